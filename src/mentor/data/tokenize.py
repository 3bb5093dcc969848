"""JSONL -> chat rows -> the exact training text -> token ids and loss labels.

Every consumer of training data (validation, training, validation loss) goes through
:func:`tokenize_file`, so the lengths that validation checks are the lengths that are trained.

* Rows are read whole (never a sample); schema errors are collected as ``file:line: reason``.
* Each row is rendered by :class:`~mentor.data.chat.ChatRenderer` (chat template, system prompt
  policy, Qwen3 think-block handling) into text plus the character spans that carry loss.
* The texts are tokenized in batches by the fast tokenizer through ``datasets.Dataset.map`` with
  ``return_offsets_mapping``; a token carries loss when it *starts* inside a trained span, so the
  labels are exactly the assistant content and its end-of-turn token; everything else is -100.
* The result is cached under ``ws.cache`` by file content hash + tokenizer + chat config.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mentor.data.chat import ChatRenderer, Message, messages_from_row
from mentor.data.formats import DEFAULT_FORMAT, RowFormat
from mentor.errors import DataError
from mentor.paths import sha256_file

log = logging.getLogger(__name__)

IGNORE_INDEX = -100
TOKENIZE_VERSION = "2"  # bump when the tokenized layout changes (invalidates the cache)


@dataclass
class ParsedFile:
    """A JSONL file read whole: the usable rows with their line numbers, and every error."""

    path: Path
    file_hash: str
    n_lines: int = 0  # non-blank lines
    rows: list[list[Message] | str] = field(default_factory=list)  # as read (any format)
    lines: list[int] = field(default_factory=list)  # 1-based line number of each row
    raw: list[str] = field(default_factory=list)  # the original line of each row (for quarantine)
    errors: list[str] = field(default_factory=list)
    fmt: RowFormat = DEFAULT_FORMAT  # how the rows' fields were named

    def row_json(self, i: int) -> dict[str, Any]:
        """Row ``i`` as a JSON object that every reader of ``messages`` rows understands: the
        original keys (metadata, ids) plus ``messages`` as training read them."""
        raw = json.loads(self.raw[i])
        row = self.rows[i]
        return {**raw, ("messages" if isinstance(row, list) else "text"): row}


def read_jsonl(path: Path, fmt: RowFormat = DEFAULT_FORMAT) -> ParsedFile:
    """Parse every line; a bad line becomes an error ``path:line: reason``, not an exception.

    ``fmt`` names the fields of rows in other formats (``data.fields``, ``data.roles``).

    Lines are decoded one by one, so a line that is not UTF-8 is named with the byte offset of
    its first bad byte in the file (and its column), and the other lines are still checked.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    parsed = ParsedFile(path=path, file_hash=sha256_file(path), fmt=fmt)
    offset = 0  # of the current line's first byte in the file
    with open(path, "rb") as f:
        for lineno, blob in enumerate(f, start=1):
            start, offset = offset, offset + len(blob)
            where = f"{path}:{lineno}"
            try:
                line = blob.decode("utf-8")
            except UnicodeDecodeError as err:
                parsed.n_lines += 1
                parsed.errors.append(
                    f"{where}: not UTF-8 text at byte offset {start + err.start} (byte "
                    f"{err.start + 1} of the line: {err.reason}) -- save the file as UTF-8"
                )
                continue
            if not line.strip():
                continue
            parsed.n_lines += 1
            row = _parse_line(line, where, parsed.errors, fmt)
            if row is not None:
                parsed.rows.append(row)
                parsed.lines.append(lineno)
                parsed.raw.append(line.rstrip("\r\n"))
    return parsed


def _parse_line(
    line: str, where: str, errors: list[str], fmt: RowFormat
) -> list[Message] | str | None:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as err:
        errors.append(f"{where}: not valid JSON ({err.msg} at column {err.colno})")
        return None
    try:
        return messages_from_row(obj, where, fmt)
    except DataError as err:
        errors.append(str(err))
        return None


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """What decides token ids: vocabulary, added tokens, chat template."""
    h = hashlib.sha256()
    backend = getattr(tokenizer, "backend_tokenizer", None)
    h.update(
        (
            backend.to_str() if backend is not None else repr(sorted(tokenizer.get_vocab().items()))
        ).encode()
    )
    h.update(str(tokenizer.chat_template).encode())
    return h.hexdigest()[:16]


def cache_key(
    file_hash: str, tokenizer: Any, renderer: ChatRenderer, fmt: RowFormat = DEFAULT_FORMAT
) -> str:
    chat = {
        "enable_thinking": renderer.enable_thinking,
        "system": renderer.default_system_prompt,
        "train_on": renderer.train_on,
        "eot": renderer.end_of_turn,
        "format": fmt.fingerprint(),
    }
    blob = json.dumps(
        [TOKENIZE_VERSION, file_hash, tokenizer_fingerprint(tokenizer), chat], sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def labels_from_offsets(
    offsets: Any, spans: list[list[int]] | tuple[tuple[int, int], ...], ids: list[int]
) -> tuple[list[int], int]:
    """Label a token with its id when it starts inside a trained span, else -100.

    Returns the labels and the number of tokens that straddle a span start (a BPE merge across the
    prompt/answer boundary; such a row trains a token the generation prompt never produces).
    """
    off = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    starts, ends = off[:, 0], off[:, 1]
    mask = np.zeros(len(ids), dtype=bool)
    straddle = 0
    for a, b in spans:
        mask |= (starts >= a) & (starts < b)
        straddle += int(((starts < a) & (ends > a)).sum())
    labels = np.where(mask, np.asarray(ids, dtype=np.int64), IGNORE_INDEX)
    return labels.tolist(), straddle


def _tokenize_batch(batch: dict[str, list[Any]], tokenizer: Any) -> dict[str, list[Any]]:
    enc = tokenizer(
        batch["text"],
        add_special_tokens=False,
        return_offsets_mapping=True,
        return_attention_mask=False,
        truncation=False,
    )
    labels, prompt_tokens, answer_tokens, lengths, straddles = [], [], [], [], []
    for ids, offs, spans in zip(
        enc["input_ids"], enc["offset_mapping"], batch["spans"], strict=True
    ):
        lab, straddle = labels_from_offsets(offs, spans, ids)
        labels.append(lab)
        n_ans = sum(1 for x in lab if x != IGNORE_INDEX)
        first = next((i for i, x in enumerate(lab) if x != IGNORE_INDEX), len(lab))
        prompt_tokens.append(first)
        answer_tokens.append(n_ans)
        lengths.append(len(ids))
        straddles.append(straddle)
    return {
        "input_ids": enc["input_ids"],
        "labels": labels,
        "length": lengths,
        "prompt_tokens": prompt_tokens,
        "answer_tokens": answer_tokens,
        "straddle": straddles,
    }


def tokenize_rows(
    renderer: ChatRenderer,
    parsed: ParsedFile,
    *,
    batch_size: int = 1000,
    cache_dir: Path | None = None,
) -> Any:
    """The parsed rows as a ``datasets.Dataset`` with ``input_ids``, ``labels``, ``length``,
    ``prompt_tokens``, ``answer_tokens``, ``straddle``, ``line``, ``row`` (index into parsed.rows).

    Cached under ``cache_dir/<key>`` when given (key: file hash + tokenizer + chat config).
    """
    from datasets import Dataset, load_from_disk

    tokenizer = renderer.tokenizer
    target: Path | None = None
    if cache_dir is not None:
        target = (
            Path(cache_dir) / f"tok-{cache_key(parsed.file_hash, tokenizer, renderer, parsed.fmt)}"
        )
        if (target / "dataset_info.json").is_file():
            try:
                ds = load_from_disk(str(target))
                if len(ds) == len(parsed.rows):
                    log.debug("tokenized %s from cache %s", parsed.path, target)
                    return ds
            except Exception as err:  # a damaged cache is rebuilt, never trusted
                log.warning("cache %s unreadable (%s); rebuilding", target, err)
    if not parsed.rows:  # every line was bad: the same columns, no rows, nothing cached
        cols = ("input_ids", "labels", "length", "prompt_tokens", "answer_tokens", "straddle")
        return Dataset.from_dict({c: [] for c in (*cols, "line", "row")})
    texts, spans = [], []
    for row, line in zip(parsed.rows, parsed.lines, strict=True):
        rendered = renderer.render(row, where=f"{parsed.path}:{line}")
        texts.append(rendered.text)
        spans.append([list(s) for s in rendered.spans])
    ds = Dataset.from_dict(
        {"text": texts, "spans": spans, "line": parsed.lines, "row": list(range(len(texts)))}
    )
    from datasets.utils import disable_progress_bar, enable_progress_bar, is_progress_bar_enabled

    bars = is_progress_bar_enabled()
    disable_progress_bar()
    try:
        ds = ds.map(
            _tokenize_batch,
            batched=True,
            batch_size=batch_size,
            fn_kwargs={"tokenizer": tokenizer},
            remove_columns=["text", "spans"],
        )
    finally:
        if bars:
            enable_progress_bar()
    if target is not None:
        tmp = target.with_name(target.name + ".tmp")
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        try:
            disable_progress_bar()
            ds.save_to_disk(str(tmp))
            shutil.rmtree(target, ignore_errors=True)
            tmp.rename(target)
            ds = load_from_disk(str(target))
        except OSError as err:
            log.warning("could not cache tokenized data at %s (%s)", target, err)
        finally:
            if bars:
                enable_progress_bar()
    return ds
