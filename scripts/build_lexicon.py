"""Build the SYLLO lexicon (dev-time only) from WordNet 3.0, pyphen and wordfreq.

Usage::

    apt-get install -y wordnet-base      # gives /usr/share/wordnet/{data,index}.* and *.exc
    .venv/bin/python scripts/build_lexicon.py [--wordnet /usr/share/wordnet] [--max-words 20000]

Writes ``src/mentor/tasks/syllo/data/lexicon.jsonl.gz`` (gzip with mtime=0, deterministic bytes)
and ``src/mentor/tasks/syllo/data/LICENSE-WordNet.txt``. Candidates are the most frequent
English words (wordfreq) that are single lowercase alphabetic words, map to a WordNet lemma
(directly, through the exception lists or the regular inflection rules) and split into at least
two pyphen pieces. The runtime (``mentor.tasks.syllo.lexicon``) reads only the gz file.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import re
from pathlib import Path

import pyphen
from wordfreq import top_n_list, zipf_frequency

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "src" / "mentor" / "tasks" / "syllo" / "data"
POS_FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
POS_NAMES = {"n": "noun", "v": "verb", "a": "adj", "s": "adj", "r": "adv"}
LEXNAMES = [
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact",
    "noun.attribute", "noun.body", "noun.cognition", "noun.communication", "noun.event",
    "noun.feeling", "noun.food", "noun.group", "noun.location", "noun.motive", "noun.object",
    "noun.person", "noun.phenomenon", "noun.plant", "noun.possession", "noun.process",
    "noun.quantity", "noun.relation", "noun.shape", "noun.state", "noun.substance", "noun.time",
    "verb.body", "verb.change", "verb.cognition", "verb.communication", "verb.competition",
    "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
    "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather",
    "adj.ppl",
]  # fmt: skip
DETACH = {
    "n": [("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"),
          ("men", "man"), ("ies", "y")],
    "v": [("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""),
          ("ing", "e"), ("ing", "")],
    "a": [("er", ""), ("est", ""), ("er", "e"), ("est", "e")],
    "r": [],
}  # fmt: skip
WORD_RE = re.compile(r"^[a-z]+$")
QUOTED_RE = re.compile(r'"([^"]+)"')


def load_index(wn: Path) -> dict[str, dict[str, list[int]]]:
    """lemma -> pos -> synset offsets (in sense order)."""
    index: dict[str, dict[str, list[int]]] = {}
    for pos, name in POS_FILES.items():
        for line in (wn / f"index.{name}").read_text(encoding="latin-1").splitlines():
            if line.startswith(" "):
                continue
            parts = line.split()
            lemma, n_synsets, n_ptr = parts[0], int(parts[2]), int(parts[3])
            offsets = [int(x) for x in parts[4 + n_ptr + 2 : 4 + n_ptr + 2 + n_synsets]]
            index.setdefault(lemma, {})[pos] = offsets
    return index


def load_exceptions(wn: Path) -> dict[str, dict[str, list[str]]]:
    exc: dict[str, dict[str, list[str]]] = {}
    for pos, name in POS_FILES.items():
        for line in (wn / f"{name}.exc").read_text(encoding="latin-1").splitlines():
            parts = line.split()
            if len(parts) >= 2:
                exc.setdefault(parts[0], {}).setdefault(pos, []).extend(parts[1:])
    return exc


def load_data(wn: Path) -> dict[tuple[str, int], dict]:
    synsets: dict[tuple[str, int], dict] = {}
    for pos, name in POS_FILES.items():
        for line in (wn / f"data.{name}").read_text(encoding="latin-1").splitlines():
            if line.startswith(" "):
                continue
            head, _, gloss = line.partition(" | ")
            parts = head.split()
            offset, lexfile = int(parts[0]), int(parts[1])
            n_words = int(parts[3], 16)
            words = [parts[4 + 2 * i] for i in range(n_words)]
            i = 4 + 2 * n_words
            n_ptr = int(parts[i])
            ptrs = []
            for k in range(n_ptr):
                sym, off, ppos, st = parts[i + 1 + 4 * k : i + 5 + 4 * k]
                ptrs.append((sym, int(off), "a" if ppos == "s" else ppos, st))
            gloss = gloss.strip()
            examples = QUOTED_RE.findall(gloss)
            definition = gloss.split('; "')[0].strip()
            if definition.startswith('"'):
                definition = ""
            synsets[(pos, offset)] = {
                "words": [re.sub(r"\(.*\)$", "", w) for w in words],
                "lexname": LEXNAMES[lexfile] if lexfile < len(LEXNAMES) else "",
                "ptrs": ptrs,
                "definition": definition,
                "examples": examples,
            }
    return synsets


def lemmas_for(word: str, index: dict, exc: dict) -> list[tuple[str, str]]:
    """(lemma, pos) pairs for a surface word, the word itself first."""
    found: list[tuple[str, str]] = []
    for pos in POS_FILES:
        cands = [word] if word in index and pos in index[word] else []
        cands += exc.get(word, {}).get(pos, [])
        for suf, rep in DETACH[pos]:
            if word.endswith(suf) and len(word) > len(suf) + 1:
                cands.append(word[: len(word) - len(suf)] + rep)
        for c in cands:
            if c in index and pos in index[c] and (c, pos) not in found:
                found.append((c, pos))
    found.sort(key=lambda lp: lp[0] != word)
    return found


def clean(w: str) -> str:
    return w.replace("_", " ")


def build(wn: Path, max_words: int, min_zipf: float) -> list[dict]:
    index, exc, synsets = load_index(wn), load_exceptions(wn), load_data(wn)
    hyph = pyphen.Pyphen(lang="en_US")
    entries = []
    for word in top_n_list("en", 200_000):
        if len(entries) >= max_words:
            break
        if not WORD_RE.match(word) or len(word) < 3:
            continue
        zipf = zipf_frequency(word, "en")
        if zipf < min_zipf:
            break
        syllables = hyph.inserted(word).split("-")
        if len(syllables) < 2 or "".join(syllables) != word:
            continue
        lemmas = lemmas_for(word, index, exc)
        if not lemmas:
            continue
        senses, synonyms, hypernyms, antonyms, examples, related = [], [], [], [], [], []
        domain = ""
        for lemma, pos in lemmas:
            for off in index[lemma][pos]:
                s = synsets[(pos, off)]
                if s["definition"]:
                    senses.append({"gloss": s["definition"], "pos": POS_NAMES[pos]})
                if not domain and s["lexname"]:
                    domain = s["lexname"].split(".", 1)[1].lower()
                for w in s["words"]:
                    w = clean(w)
                    if (
                        w.lower() not in (word, lemma)
                        and w not in synonyms
                        and re.fullmatch(r"[A-Za-z][A-Za-z -]*", w)
                    ):
                        synonyms.append(w)
                for ex in s["examples"]:
                    if ex not in examples:
                        examples.append(ex)
                for sym, poff, ppos, st in s["ptrs"]:
                    target = synsets.get((ppos, poff))
                    if target is None:
                        continue
                    if sym in ("@", "@i") and len(hypernyms) < 6:
                        h = clean(target["words"][0])
                        if h not in hypernyms:
                            hypernyms.append(h)
                    elif sym in ("!", "+"):
                        src, dst = int(st[:2], 16), int(st[2:], 16)
                        if src and dst and s["words"][src - 1].lower() == lemma:
                            t = clean(target["words"][dst - 1])
                            bucket = antonyms if sym == "!" else related
                            if t not in bucket and t.lower() != word:
                                bucket.append(t)
        if not senses:
            continue
        entries.append(
            {
                "word": word,
                "syllables": syllables,
                "zipf": round(zipf, 2),
                "senses": senses[:5],
                "synonyms": synonyms[:8],
                "hypernyms": hypernyms[:4],
                "antonyms": antonyms[:4],
                "domain": domain,
                "examples": examples[:4],
                "related": related[:6],
            }
        )
    return entries


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wordnet", default="/usr/share/wordnet")
    ap.add_argument("--max-words", type=int, default=32_000)
    ap.add_argument("--min-zipf", type=float, default=2.0)
    args = ap.parse_args()
    wn = Path(args.wordnet)
    entries = build(wn, args.max_words, args.min_zipf)
    entries.sort(key=lambda e: e["word"])
    raw = "".join(json.dumps(e, ensure_ascii=True, sort_keys=False) + "\n" for e in entries)
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(raw.encode("ascii"))
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "lexicon.jsonl.gz").write_bytes(buf.getvalue())
    lic = Path("/usr/share/doc/wordnet-base/copyright").read_text(encoding="utf-8")
    block = lic.split("License: WordNet3.0", 1)[1].split("\nFiles:", 1)[0]
    text = "\n".join(ln[1:] if ln.startswith(" ") else ln for ln in block.strip("\n").splitlines())
    text = text.replace("\n.\n", "\n\n")
    (OUT_DIR / "LICENSE-WordNet.txt").write_text(
        "WordNet 3.0 license (the SYLLO lexicon is derived from WordNet 3.0)\n\n"
        + text.strip()
        + "\n",
        encoding="utf-8",
    )
    print(json.dumps({"words": len(entries), "bytes": len(buf.getvalue())}))


if __name__ == "__main__":
    main()
