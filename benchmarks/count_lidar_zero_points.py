"""Per nuScenes category: annotations with ``num_lidar_pts == 0`` / all annotations of a dataroot.

Usage: ``python benchmarks/count_lidar_zero_points.py DATAROOT`` (a FastDrive world, version v1.0-fastdrive).
"""
import json, sys, collections
root = sys.argv[1]
anns = json.load(open(f"{root}/v1.0-fastdrive/sample_annotation.json"))
inst = {i["token"]: i["category_token"] for i in json.load(open(f"{root}/v1.0-fastdrive/instance.json"))}
cat = {c["token"]: c["name"] for c in json.load(open(f"{root}/v1.0-fastdrive/category.json"))}
tot, zero = collections.Counter(), collections.Counter()
for a in anns:
    n = cat[inst[a["instance_token"]]]; tot[n] += 1; zero[n] += a["num_lidar_pts"] == 0
for n in sorted(tot): print(f"{n}: {zero[n]}/{tot[n]}")
