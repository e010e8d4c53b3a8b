"""One day's labeled traces as numbers, for the report: per trace its model (a code), the three
rewards (NaN where null), the answer's length in characters and in estimated tokens, and its
human feedback on [0, 1] (NaN where none), as numpy arrays built a record batch at a time. A day
of 1,000,000 traces is ~60 MB here; the answers' text is only read, a batch at a time."""

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trace_assets.quality.quality_table import REWARDS

DAY_COLUMNS = ["trace_id", "model", "output", *REWARDS]


@dataclass(frozen=True)
class DayRewards:
    models: list  # model names by code (None: traces without a model name)
    model: np.ndarray  # int32 code per trace
    rewards: dict[str, np.ndarray]  # reward -> float64 per trace, NaN where null
    length: np.ndarray  # int32 answer characters (length_bias.answer_length)
    tokens: np.ndarray  # int32 answer tokens, estimated (length_bias.estimated_tokens)
    human: np.ndarray  # human feedback on [0, 1], NaN where none

    @classmethod
    def of(cls, batches: Iterable[pa.RecordBatch], human: dict[str, float], rows_at_most: int = 1024) -> "DayRewards":
        """From record batches with DAY_COLUMNS, and the human values by trace id. `rows_at_most`
        sizes the arrays (the window's rows, from the table's metadata): they are filled in
        place, so the day is never held twice (a larger day still fits: the arrays grow)."""
        human_ids = pa.array(list(human), pa.string())
        human_values = np.append(np.fromiter(human.values(), float, len(human)), np.nan)  # last: "none"
        codes: dict = {}
        columns = _Columns(max(rows_at_most, 1))
        for batch in batches:
            rows = columns.next_rows(batch.num_rows)
            columns["model"][rows] = model_codes(batch.column("model"), codes)
            for reward in REWARDS:
                columns[reward][rows] = batch.column(reward).to_numpy(zero_copy_only=False)
            columns["length"][rows], columns["tokens"][rows] = answer_sizes(batch.column("output"))
            where = pc.fill_null(pc.index_in(batch.column("trace_id"), value_set=human_ids), len(human))
            columns["human"][rows] = human_values[where.to_numpy(zero_copy_only=False)]
        filled = columns.filled()
        return cls(
            list(codes), filled["model"], {reward: filled[reward] for reward in REWARDS}, filled["length"], filled["tokens"],
            filled["human"],
        )

    @property
    def traces(self) -> int:
        return len(self.model)

    def named_models(self) -> list[str]:
        """The day's model names, sorted (traces without one are not a model of their own)."""
        return sorted(name for name in self.models if name is not None)

    def of_model(self, name: str | None) -> np.ndarray:
        """A mask of the traces of model `name`; None: every trace."""
        if name is None:
            return np.ones(self.traces, bool)
        return self.model == self.models.index(name)


def model_codes(models: pa.Array, codes: dict) -> np.ndarray:
    """Each row's model as an int32 code (`codes`: name -> code, None for no name; new names are
    added), through Arrow's dictionary encoding: a Python string per distinct name, not per row."""
    encoded = pc.dictionary_encode(models, null_encoding="encode")
    for name in encoded.dictionary.to_pylist():
        codes.setdefault(name, len(codes))
    lookup = np.fromiter((codes[name] for name in encoded.dictionary.to_pylist()), np.int32, len(encoded.dictionary))
    return lookup[encoded.indices.to_numpy(zero_copy_only=False)]


class _Columns:
    """The arrays a day is filled into, allocated for `capacity` rows (numpy's fresh arrays cost
    memory only where written) and grown when more come."""

    TYPES = {"model": np.int32, "length": np.int32, "tokens": np.int32, "human": float, **{reward: float for reward in REWARDS}}

    def __init__(self, capacity: int):
        self._arrays = {name: np.empty(capacity, kind) for name, kind in self.TYPES.items()}
        self._rows = 0

    def __getitem__(self, name: str) -> np.ndarray:
        return self._arrays[name]

    def next_rows(self, count: int) -> slice:
        """The slice the next `count` rows go into."""
        start, self._rows = self._rows, self._rows + count
        capacity = len(self._arrays["model"])
        if self._rows > capacity:
            grown = max(self._rows, 2 * capacity)
            for name, array in self._arrays.items():
                self._arrays[name] = np.empty(grown, array.dtype)
                self._arrays[name][:start] = array[:start]
        return slice(start, self._rows)

    def filled(self) -> dict[str, np.ndarray]:
        return {name: array[: self._rows] for name, array in self._arrays.items()}


def answer_sizes(answers: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Per answer its characters and its estimated tokens (4 ASCII characters a token, one a
    token for any other character), as length_bias's `answer_length` and `estimated_tokens`
    count them, from the UTF-8 bytes in Arrow's buffer: an ASCII character is a byte below 0x80,
    and no byte of another character is."""
    answers = answers.cast(pa.large_string())
    characters = pc.fill_null(pc.utf8_length(answers), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    if len(answers) == 0:
        return characters, characters.copy()
    _, offsets_buffer, data_buffer = answers.buffers()
    offsets = np.frombuffer(offsets_buffer, np.int64)[answers.offset:answers.offset + len(answers) + 1]
    data = np.frombuffer(data_buffer, np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    below = np.concatenate([[0], np.cumsum(data[offsets[0]:offsets[-1]] < 0x80, dtype=np.int32)])
    ascii_chars = below[offsets[1:] - offsets[0]] - below[offsets[:-1] - offsets[0]]
    ascii_chars = np.where(pc.is_null(answers).to_numpy(zero_copy_only=False), 0, ascii_chars)
    return characters, (ascii_chars + 3) // 4 + characters - ascii_chars
