"""Write the general-text probe of the forgetting matrix (src/mentor/evals/data/general_probe.jsonl).

Sentences from the lexicon's own WordNet examples: plain English that no SYLLO row trains,
so a drift of the model's general text ability shows up in the matrix. Deterministic: the 128
most frequent words that have an example sentence of 6 words or more, first example each.
Run: ``python scripts/build_probe.py`` (the file is committed; this rebuilds it byte for byte).
"""

from __future__ import annotations

import json
from pathlib import Path

from mentor.tasks.syllo.lexicon import load_lexicon

OUT = Path(__file__).resolve().parents[1] / "src/mentor/evals/data/general_probe.jsonl"
ROWS = 128


def main() -> None:
    lex = load_lexicon()
    picked = []
    for e in sorted(lex.values(), key=lambda e: (-e.zipf, e.word)):
        ex = [s for s in e.examples if len(s.split()) >= 6 and e.word in s.lower()]
        if ex:
            picked.append((e.word, ex[0]))
        if len(picked) == ROWS:
            break
    lines = []
    for i, (word, sentence) in enumerate(picked, start=1):
        row = {
            "id": f"probe-{i:03d}",
            "messages": [
                {"role": "user", "content": f'Write a sentence that uses the word "{word}".'},
                {
                    "role": "assistant",
                    "content": sentence[0].upper() + sentence[1:].rstrip(".!? ") + ".",
                },
            ],
        }
        lines.append(json.dumps(row, ensure_ascii=False))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(json.dumps({"rows": len(lines), "out": str(OUT)}))


if __name__ == "__main__":
    main()
