#!/usr/bin/env python3
"""Complete a post-copy run's zero_at_start map from QEMU's own records.

The recorder derives zero_at_start from QEMU's first pass; when post-copy
starts before that pass ends, pages above the switch cursor are left
unclassified. After the switch QEMU sends every remaining page exactly once,
as a normal page (listed in sent.jsonl.gz) or as a zero page (not listed).
So a page above the cursor that QEMU never sent as a normal page, in any
round, was zero. Usage: complete-zero-map.py RUN_DIR (rewrites trace.jsonl.gz).
"""
import gzip, json, re, sys

run = sys.argv[1]
with gzip.open(f"{run}/trace.jsonl.gz", "rt") as f:
    lines = f.read().splitlines()
head = json.loads(lines[0])
z = head["zero_at_start"]
m = re.search(r"began at page (\d+)", z.get("derived_from", ""))
if not m or "completed_from" in z:
    sys.exit("nothing to complete")
cut = int(m.group(1))
sent = set()
with gzip.open(f"{run}/sent.jsonl.gz", "rt") as f:
    f.readline()
    for line in f:
        if line.strip():
            sent.update(json.loads(line)["pages"])
zero = set()
for first, count in z["ranges"]:
    zero.update(range(first, first + count))
zero.update(p for p in range(cut, head["pages"]) if p not in sent)
pages = sorted(zero)
ranges, i = [], 0
while i < len(pages):
    j = i
    while j + 1 < len(pages) and pages[j + 1] == pages[j] + 1:
        j += 1
    ranges.append([pages[i], j - i + 1])
    i = j + 1
z["ranges"], z["pages"] = ranges, len(pages)
z["completed_from"] = f"pages >= {cut} never sent as normal pages in any round of sent.jsonl.gz (post-copy sends each remaining page once): zero (tools/complete-zero-map.py)"
lines[0] = json.dumps(head)
with gzip.open(f"{run}/trace.jsonl.gz", "wt") as f:
    f.write("\n".join(lines) + "\n")
print(f"{run}: zero_at_start {len(pages)} pages")
