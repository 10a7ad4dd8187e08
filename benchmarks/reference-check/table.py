"""Prints check.py's JSONL rows as a Markdown table.   python table.py OUT/small.jsonl [OUT/paper.jsonl ...]"""

import json
import sys


def names(r):
    m = r.get("mapping", "builtin")
    if m == "exporter":
        return "exporter" + (" (= builtin)" if r.get("builtinAgrees") else " (builtin differs)")
    return m


def main():
    if len(sys.argv) < 2:
        print("error: usage: table.py FILE.jsonl [FILE.jsonl ...]", file=sys.stderr)
        sys.exit(2)
    print("| model | d | L | logits rel | loss ours | loss ref | loss rel | worst gradient rel | worst gradient (reference name) | names from |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    for path in sys.argv[1:]:
        for line in open(path):
            r = json.loads(line)
            print(f"| {r['model']} | {r['width']} | {r['layers']} | {r['logitsRel']:.2e} | {r['lossOurs']:.7f} | {r['lossRef']:.7f} | "
                  f"{r['lossRel']:.1e} | {r['gradWorstRel']:.2e} | `{r['gradWorst']}` | {names(r)} |")


if __name__ == "__main__":
    main()
