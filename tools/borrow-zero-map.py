#!/usr/bin/env python3
"""Give a multifd run the zero-at-start map of a sibling run of the same workload.

Under multifd QEMU 7.2 sends normal pages from its channel threads, which emit
no ram_save_page trace events, so sent.jsonl.gz lists no pages and the
recipe's add_zero_at_start.py cannot derive the zero map. The guest's memory
at the migration's start depends on the guest kernel and the workload spec
only (the dirtier fills its buffer with non-zero, page-distinct data before
DIRTIER-READY), so a run of the same workload, recorded with the same guest
kernel, has the same map up to a few pages; QEMU's own count of zero pages
(ram_duplicate_zero_pages) is printed beside it as a check.
Usage: borrow-zero-map.py RUN_DIR SIBLING_RUN_DIR (rewrites RUN_DIR/trace.jsonl.gz).
"""
import gzip, json, sys

run, sib = sys.argv[1], sys.argv[2]
with gzip.open(f"{sib}/trace.jsonl.gz", "rt") as f:
    sh = json.loads(f.readline())
with gzip.open(f"{run}/trace.jsonl.gz", "rt") as f:
    lines = f.read().splitlines()
head = json.loads(lines[0])
rr, rs = json.load(open(f"{run}/result.json")), json.load(open(f"{sib}/result.json"))
if rr["workload"]["wl"] != rs["workload"]["wl"] or rr["params"].get("guest_kernel") != rs["params"].get("guest_kernel"):
    sys.exit("the sibling must run the same workload on the same guest kernel")
z = dict(sh["zero_at_start"])
# The guest places the workload's buffer at slightly different physical pages on each boot: a page
# this run's own trace shows written holds data here (the dirtier writes only its pre-filled buffer,
# the kernel only memory it uses), so it is taken out of the borrowed map.
written = set()
for line in lines[1:]:
    if line.strip():
        written.update(json.loads(line)["pages"])
zero = set()
for first, count in z["ranges"]:
    zero.update(range(first, first + count))
zero -= written
ranges, prev = [], None
for q in sorted(zero):
    if ranges and q == ranges[-1][0] + ranges[-1][1]:
        ranges[-1][1] += 1
    else:
        ranges.append([q, 1])
z["ranges"], z["pages"] = ranges, len(zero)
z["borrowed_from"] = {"run": rs["name"], "pages_written_in_this_trace_removed": True, "why": "multifd: QEMU 7.2's channel threads emit no ram_save_page events, so this run's own first pass cannot be read", "qemu_zero_pages_this_run": rr["final"]["ram_duplicate_zero_pages"], "qemu_zero_pages_sibling": rs["final"]["ram_duplicate_zero_pages"]}
head["zero_at_start"] = z
lines[0] = json.dumps(head)
with gzip.open(f"{run}/trace.jsonl.gz", "wt") as f:
    f.write("\n".join(lines) + "\n")
print(run, z["pages"], "zero pages from", rs["name"], "; QEMU counted", rr["final"]["ram_duplicate_zero_pages"], "here and", rs["final"]["ram_duplicate_zero_pages"], "there")
