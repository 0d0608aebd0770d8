"""README documents every service setting, flag and variable, with its real default."""

from pathlib import Path

from service.settings import ServiceSettings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_setting_is_in_the_readme_table():
    for name, field in ServiceSettings.model_fields.items():
        flag, var = f"`--{name.replace('_', '-')}`", f"`FASTDRIVE_{name.upper()}`"
        row = next((line for line in README.splitlines() if line.startswith(f"| {flag} | {var} |")), None)
        assert row is not None, f"README lacks the settings row of {name}"
        default = field.default if field.default_factory is None else field.default_factory()
        shown = ",".join(default) if isinstance(default, list) else ("—" if default is None else str(default))
        assert f"| `{shown}` |" in row, f"README shows a stale default for {name}: {row}"
