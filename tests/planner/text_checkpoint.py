"""A tiny local Qwen2.5-VL checkpoint that answers in text, made offline for the planner tests.

:func:`make_text_checkpoint` writes what a real Impromptu-VLA directory
holds, at toy size: ``config.json`` + ``model.safetensors`` (a random tiny
Qwen2.5-VL from :mod:`fastdrive.vla.tiny`), ``generation_config.json``, a
byte-level BPE tokenizer trained here on an in-memory corpus (Qwen's
special tokens included, their ids written into the model config),
a ``Qwen2VLImageProcessor`` / ``Qwen2VLVideoProcessor`` with small
min/max pixels and a chat template in Qwen's layout, all saved as one
``Qwen2_5_VLProcessor``. :func:`finetune` teaches the model, by teacher
forcing on the planner's own prompt, to answer with given texts.
"""

from __future__ import annotations

import os
from typing import List, Sequence, Tuple

import numpy as np
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (PreTrainedTokenizerFast, Qwen2_5_VLProcessor, Qwen2VLImageProcessor,
                          Qwen2VLVideoProcessor)

from fastdrive.planner.text_planner import COMMAND_TEXT, MODE_TEXT
from fastdrive.vla import build_tiny_qwen25vl

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                  "<|image_pad|>", "<|video_pad|>")
PATCH, MERGE = 4, 2                   # the tiny vision tower's patch and merge sizes
MIN_PIXELS, MAX_PIXELS = 16 * 16, 48 * 64

# Qwen's chat layout (a default system turn when none is given; images as
# vision_start / image_pad / vision_end), written for these tests.
CHAT_TEMPLATE = (
    "{% if messages[0]['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def corpus() -> List[str]:
    """Texts the tokenizer is trained on: prompt phrases, format labels, answers and numbers."""
    texts = ["As an autonomous driving system, plan the ego vehicle's trajectory.",
             "Navigation command: Ego state: speed m/s, acceleration m/s^2, yaw rate rad/s.",
             "Past positions (x forward, y left, m): Predict the movement for the next 3 seconds as 6 "
             "waypoints at 0.5 s, formatted as Answer inside <PLANNING></PLANNING>.",
             "<PLANNING>Predicted future movement details for the next 3 seconds The output is formatted as",
             "CAM_FRONT: CAM_FRONT_LEFT: CAM_FRONT_RIGHT: CAM_BACK: system user assistant",
             "You are a helpful assistant."]
    texts += list(COMMAND_TEXT) + list(MODE_TEXT.values())
    rng = np.random.default_rng(0)
    texts += [", ".join(f"[{a:.2f}, {b:.2f}]" for a, b in rng.uniform(-20, 20, (6, 2))) for _ in range(40)]
    texts += [f"t-{t:.1f}s [{-v:.2f}, 0.00]" for t in (2.0, 1.5, 1.0, 0.5) for v in range(0, 20, 3)]
    return texts * 3


def make_tokenizer(vocab_size: int = 1000) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer (every text encodable) with Qwen's special tokens at ids 0..6.

    Merges may cross word boundaries (no pre-split regex), so the fixed
    phrases of prompt and answer become few tokens: short sequences, fast tests.
    """
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                  show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus(), trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")


def make_text_checkpoint(path: str, seed: int = 0, with_processor: bool = True,
                         chat_template: bool = True) -> str:
    """Write the tiny checkpoint directory (see the module docstring) and return its path."""
    os.makedirs(path, exist_ok=True)
    tokenizer = make_tokenizer()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    vocab = -(-len(tokenizer) // 64) * 64
    model = build_tiny_qwen25vl(
        seed=seed, vocab_size=vocab, image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"])
    model.generation_config.eos_token_id = [ids["<|im_end|>"], ids["<|endoftext|>"]]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.save_pretrained(path)
    if with_processor:
        image = Qwen2VLImageProcessor(patch_size=PATCH, merge_size=MERGE, temporal_patch_size=2,
                                      min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)
        video = Qwen2VLVideoProcessor(patch_size=PATCH, merge_size=MERGE, temporal_patch_size=2)
        processor = Qwen2_5_VLProcessor(image_processor=image, tokenizer=tokenizer, video_processor=video,
                                        chat_template=CHAT_TEMPLATE if chat_template else None)
        processor.save_pretrained(path)
    return path


def training_example(planner, frames, ego_state, command, answer: str) -> Tuple[dict, torch.Tensor]:
    """The planner's own inputs followed by ``answer <|im_end|>``; labels -100 on the prompt.

    Returns:
        model inputs ``(1, L + A)`` (pixel values as encoded) and labels ``(1, L + A)``.
    """
    inputs = planner.encode(frames, ego_state, command)
    tok = planner.tokenizer
    ans = tok(answer, add_special_tokens=False)["input_ids"] + [tok.convert_tokens_to_ids("<|im_end|>")]
    ans_t = torch.tensor([ans], dtype=torch.long, device=inputs["input_ids"].device)
    full = dict(inputs)
    full["input_ids"] = torch.cat([inputs["input_ids"], ans_t], dim=1)
    full["attention_mask"] = torch.cat([inputs["attention_mask"], torch.ones_like(ans_t)], dim=1)
    full["mm_token_type_ids"] = torch.cat([inputs["mm_token_type_ids"], torch.zeros_like(ans_t)], dim=1)
    labels = torch.full_like(full["input_ids"], -100)
    labels[:, inputs["input_ids"].shape[1]:] = ans_t
    return full, labels


def finetune(model: torch.nn.Module, examples: Sequence[Tuple[dict, torch.Tensor]], steps: int = 150,
             lr: float = 3e-3, target_loss: float = 0.01) -> float:
    """Teacher-force ``model`` on ``examples`` (AdamW, one step per example per round).

    Stops early once every example's loss is below ``target_loss``; returns
    the last round's largest loss. The model is left in eval mode.
    """
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    worst = float("inf")
    for _ in range(steps):
        worst = 0.0
        for inputs, labels in examples:
            loss = model(**inputs, labels=labels).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            worst = max(worst, float(loss.detach()))
        if worst < target_loss:
            break
    model.eval()
    return worst
