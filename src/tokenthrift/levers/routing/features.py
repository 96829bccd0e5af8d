"""What a prompt looks like, as numbers: length, structure, maths, code, domain cues and
question form, plus hashed words.

These are the signals that transfer across task families (a maths word problem looks
like maths whatever the benchmark), which an embedding-only router does not: a kNN over
MiniLM vectors trained on MMLU does worse than random on GSM8K. Everything here is pure
Python + numpy and runs in well under a millisecond for a typical prompt.
"""

from __future__ import annotations

import itertools
import math
import re
import zlib
from collections.abc import Sequence

import numpy as np

# Buckets of the hashed bag of words (signed hashing, Weinberger et al. 2009).
HASH_BUCKETS = 512

_WORD = re.compile(r"[a-z][a-z'-]*[a-z]|[a-z]")
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:[.,]\d+)*(?:%)?")
_MATH_SYMBOL = re.compile(r"[=<>^±×÷√∑∫∂π∞≤≥≠∈∀∃→⇒]|\\(?:frac|sqrt|sum|int|cdot|times|le|ge)")  # noqa: RUF001
_EXPRESSION = re.compile(r"\d\s*[-+*/^]\s*\(?\s*[\dxyzn]|[a-z]\s*\^\s*\d|\b[xyzn]\s*=|\bf\(x\)")
_CODE_LINE = re.compile(
    r"^\s*(def |class |import |from \w+ import|return\b|for .* in |while\b|if .*:|#include|"
    r"public |private |function\b|var |let |const |SELECT |print\(|[{}];?\s*$)",
    re.MULTILINE,
)
_CODE_TOKEN = re.compile(r"[{}\[\]();]|==|!=|->|=>|::|\w+\(\)|\b\w+_\w+\b")
_OPTION = re.compile(r"^\s*(?:\(?[A-Ha-h][.)]|[1-8][.)])\s+\S", re.MULTILINE)
_STATEMENT_PAIR = re.compile(r"statement 1\s*\|", re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+\.)\s+", re.MULTILINE)
_NEGATED_ASK = re.compile(r"\b(?:not|except|least|false|incorrect)\b")
_QUESTION_START = re.compile(
    r"^\s*(what|which|who|whom|when|where|why|how|is|are|does|do|can|should|would|will|"
    r"explain|describe|write|compose|create|draft|summari[sz]e|translate|classify|extract|"
    r"list|give|tell|calculate|compute|solve|find|prove|evaluate|implement|imagine|pretend|"
    r"suppose|let|consider|if|given)\b",
    re.IGNORECASE,
)

# Domain cue lexicons: a prompt's share of words from each. Chosen by hand from what makes
# questions hard for smaller models (formal reasoning, quantities, law) or easy (everyday
# knowledge); the weights are learned, these only say which words belong together.
_LEXICONS: dict[str, frozenset[str]] = {
    "maths": frozenset(
        ["equation", "integer", "integers", "prime", "polynomial", "matrix", "matrices", "vector", "vectors", "derivative", "integral", "probability", "ring", "field", "group", "subgroup", "homomorphism", "isomorphic", "theorem", "proof", "prove", "modulo", "mod", "sqrt", "log", "ln", "sum", "product", "function", "functions", "variable", "variables", "graph", "eigenvalue", "eigenvalues", "determinant", "limit", "series", "converge", "sequence", "set", "sets", "real", "complex", "rational", "irrational", "divisible", "factor", "factors", "remainder", "coefficient", "quadratic", "linear", "exponential", "geometric", "arithmetic", "mean", "median", "variance", "deviation", "regression", "permutation", "permutations", "combinations", "calculate", "compute", "solve", "simplify", "evaluate", "expression", "zero", "zeros", "odd", "even", "digit", "digits"]
    ),
    "physics": frozenset(
        ["velocity", "acceleration", "force", "mass", "energy", "momentum", "kinetic", "potential", "charge", "electric", "magnetic", "field", "current", "voltage", "resistance", "circuit", "wave", "wavelength", "frequency", "photon", "electron", "proton", "neutron", "nucleus", "quantum", "gravitational", "gravity", "friction", "torque", "pressure", "temperature", "heat", "entropy", "thermodynamic", "lens", "refraction", "orbit", "speed", "joule", "joules", "newton", "newtons", "watt", "watts", "ohm", "ohms", "kg", "meters", "seconds"]
    ),
    "logic": frozenset(
        ["argument", "premise", "premises", "conclusion", "valid", "invalid", "fallacy", "syllogism", "implies", "entails", "consistent", "inconsistent", "tautology", "contradiction", "predicate", "quantifier", "translation", "symbolization", "formula", "formulas", "truth", "table", "indirect", "antecedent", "consequent", "biconditional", "disjunction", "conjunction", "negation"]
    ),
    "law": frozenset(
        ["court", "plaintiff", "defendant", "statute", "constitutional", "amendment", "jurisdiction", "contract", "tort", "negligence", "liability", "liable", "appeal", "judge", "jury", "evidence", "testimony", "hearsay", "prosecution", "prosecutor", "attorney", "lawsuit", "damages", "breach", "property", "tenant", "landlord", "deed", "easement", "felony", "misdemeanor", "murder", "burglary", "convicted", "conviction", "motion", "sue", "sued", "suit", "injunction", "ordinance", "federal", "state's"]
    ),
    "science": frozenset(
        ["cell", "cells", "protein", "proteins", "dna", "rna", "gene", "genes", "enzyme", "species", "organism", "molecule", "molecules", "atom", "atoms", "reaction", "acid", "base", "chemical", "bond", "bonds", "virus", "bacteria", "tissue", "organ", "blood", "patient", "disease", "symptoms", "diagnosis", "treatment", "clinical", "muscle", "nerve", "hormone", "metabolism"]
    ),
    "code": frozenset(
        ["code", "function", "program", "python", "java", "javascript", "algorithm", "compile", "compiler", "runtime", "array", "arrays", "list", "lists", "string", "strings", "loop", "recursion", "recursive", "pointer", "class", "object", "method", "api", "bug", "debug", "sql", "query", "database", "script", "bash", "regex", "complexity", "binary", "tree", "hash", "stack", "queue"]
    ),
    "everyday": frozenset(
        ["people", "person", "friend", "family", "home", "food", "money", "job", "school", "day", "week", "year", "city", "country", "favorite", "travel", "people's", "buy", "like", "want", "best", "good"]
    ),
    "writing": frozenset(
        ["write", "compose", "draft", "essay", "poem", "story", "blog", "email", "letter", "paragraph", "rewrite", "describe", "persuasive", "creative", "tone", "style", "summarize", "summary", "outline"]
    ),
}

# word → the lexicons it belongs to (one pass over the words counts them all).
_LEXICON_OF: dict[str, tuple[int, ...]] = {}
for _index, _words in enumerate(_LEXICONS.values()):
    for _word in _words:
        _LEXICON_OF[_word] = (*_LEXICON_OF.get(_word, ()), _index)

SCALAR_NAMES: tuple[str, ...] = (
    "log_chars",
    "log_words",
    "log_lines",
    "mean_word_len",
    "long_word_share",
    "unique_word_share",
    "digit_share",
    "number_count",
    "math_symbols",
    "expressions",
    "code_lines",
    "code_tokens",
    "options",
    "numeric_options",
    "statement_pair",
    "bullets",
    "negated_ask",
    "question_marks",
    "starts_with_question",
    "passage",
    "uppercase_share",
    "non_ascii_share",
    *(f"lex_{name}" for name in _LEXICONS),
)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def scalar_features(text: str) -> np.ndarray:
    """The hand-made features of one prompt, in ``SCALAR_NAMES`` order."""
    chars = max(len(text), 1)
    tokens = words(text)
    n_words = max(len(tokens), 1)
    lines = [line for line in text.splitlines() if line.strip()]
    options = _OPTION.findall(text)
    option_lines = [line for line in lines if _OPTION.match(line)]
    numeric_options = sum(1 for line in option_lines if _NUMBER.search(line[2:]))
    longest_line = max((len(line) for line in lines), default=0)
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    values = [
        math.log1p(len(text)),
        math.log1p(len(tokens)),
        math.log1p(len(lines)),
        sum(len(w) for w in tokens) / n_words,
        sum(1 for w in tokens if len(w) >= 9) / n_words,
        len(set(tokens)) / n_words,
        float(np.count_nonzero((codes >= 48) & (codes <= 57))) / chars,
        math.log1p(len(_NUMBER.findall(text))),
        math.log1p(len(_MATH_SYMBOL.findall(text))),
        math.log1p(len(_EXPRESSION.findall(text.lower()))),
        math.log1p(len(_CODE_LINE.findall(text))),
        math.log1p(len(_CODE_TOKEN.findall(text))),
        min(len(options), 8) / 4.0,
        numeric_options / max(len(option_lines), 1),
        1.0 if _STATEMENT_PAIR.search(text) else 0.0,
        math.log1p(len(_BULLET.findall(text))),
        1.0 if _NEGATED_ASK.search(_last_question(lines)) else 0.0,
        min(text.count("?"), 4) / 4.0,
        1.0 if _QUESTION_START.match(text) else 0.0,
        1.0 if longest_line > 400 else 0.0,
        float(np.count_nonzero((codes >= 65) & (codes <= 90))) / chars,
        float(np.count_nonzero(codes > 127)) / chars,
    ]
    hits = np.zeros(len(_LEXICONS))
    for word in tokens:
        for index in _LEXICON_OF.get(word, ()):
            hits[index] += 1.0
    values.extend(10.0 * hits / n_words)
    return np.asarray(values, dtype=np.float64)


def _last_question(lines: Sequence[str]) -> str:
    """The line that asks (before any answer options), lower-cased."""
    for line in reversed(lines):
        if not _OPTION.match(line) and line.strip().lower() != "answer:":
            return line.lower()
    return ""


def hashed_words(text: str, buckets: int = HASH_BUCKETS) -> np.ndarray:
    """Signed hashed counts of words and word pairs, L2-normalised."""
    tokens = words(text)
    out = np.zeros(buckets, dtype=np.float64)
    grams = tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]
    for gram in grams:
        h = zlib.crc32(gram.encode())
        out[h % buckets] += 1.0 if (h >> 31) & 1 else -1.0
    norm = float(np.linalg.norm(out))
    return out / norm if norm > 0 else out


def feature_matrix(texts: Sequence[str]) -> np.ndarray:
    return np.vstack([scalar_features(t) for t in texts]) if texts else np.zeros((0, len(SCALAR_NAMES)))


def hashed_matrix(texts: Sequence[str], buckets: int = HASH_BUCKETS) -> np.ndarray:
    return np.vstack([hashed_words(t, buckets) for t in texts]) if texts else np.zeros((0, buckets))
