"""Fit files as input: every key, type and range validated, the file and field named."""

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaling.fit.fitfile import FitFileError
from scaling.fit.result import resolve_law
from scaling.fit.result import FitResult

FIXTURE = Path(__file__).parents[1] / "fixtures" / "fitresult_schema1_chinchilla.json"
DOCUMENT = json.loads(FIXTURE.read_text())


def write(tmp_path, document, name="fit.json"):
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return str(path)


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["coefficients"].update(A="400"), r"field coefficients.A is \"400\"; expected a positive finite number"),
    (lambda d: d["coefficients"].pop("B"), "field coefficients must name exactly E, A, B, alpha, beta; missing B"),
    (lambda d: d["coefficients"].update(alpha=-0.3), "field coefficients.alpha is -0.3"),
    (lambda d: d.update(coefficients=[1.8, 400.0]), "field coefficients is .*; expected an object"),
    (lambda d: d.update(level=2), "field level is 2; expected a number in"),
    (lambda d: d.update(law="nope"), "field law: unknown law 'nope'"),
    (lambda d: d.pop("converged"), "missing field converged"),
    (lambda d: d.update(schema="scaling.FitResult/99"), "field schema is 'scaling.FitResult/99'"),
    (lambda d: d.update(a="x"), r"field a \(listed in derived\)"),
])
def test_edited_fit_is_named(tmp_path, edit, message):
    document = json.loads(json.dumps(DOCUMENT))
    edit(document)
    path = write(tmp_path, document)
    with pytest.raises(FitFileError, match=f"{path}: {message}"):
        resolve_law(path)


@pytest.mark.parametrize("text, message", [
    ("", "empty file"), (FIXTURE.read_text()[:100], r"not valid JSON \(line"), ("[1, 2]", "expected a JSON object")])
def test_empty_truncated_or_wrong_file_is_named(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(FitFileError, match=f"{path}: {message}"):
        resolve_law(path)


def test_missing_or_binary_file_is_named(tmp_path):
    with pytest.raises(FitFileError, match="no such fit file"):
        resolve_law(str(tmp_path / "absent.json"))
    path = tmp_path / "binary.json"
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(FitFileError, match="not UTF-8"):
        resolve_law(str(path))


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                           max_leaves=6)


@settings(max_examples=150, deadline=None)
@given(field=st.sampled_from(sorted(DOCUMENT) + [f"coefficients.{k}" for k in DOCUMENT["coefficients"]]),
       value=JSON_VALUES)
def test_any_edited_field_loads_or_is_named(field, value):
    # Whatever value a field is edited to, the file loads and plans, or FitFileError names it.
    document = json.loads(json.dumps(DOCUMENT))
    head, _, tail = field.partition(".")
    (document[head] if tail else document)[tail or head] = value
    try:
        fit = FitResult.from_json(json.dumps(document), "edited.json")
    except FitFileError as exc:
        assert str(exc).startswith("edited.json: ")
        return
    fit.optimal([1e21])
    fit.predict(1e9, 2e10)
