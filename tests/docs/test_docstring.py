"""The docstring parser on the real docstrings of torch 1.11, 2.0 and 2.13 (tests/data/docstrings)."""

from __future__ import annotations

import itertools
import re

import pytest

from detaudit.docs.docstring import DocLists, installed_docstring, parse_docstring

from ..conftest import DATA

DOCSTRINGS = DATA / "docstrings"

# (converted, raises) bullets per release, as shared/reference/docstring_matrix.md counts them
SIZES = {"1.11": (17, 26), "2.0": (17, 28), "2.13": (23, 25)}


def parsed(version: str) -> DocLists:
    return parse_docstring((DOCSTRINGS / f"torch-{version}.txt").read_text(encoding="utf-8"))


def listed(docs: DocLists, group: str, api: str) -> list[str]:
    """The conditions under which ``api`` is in ``group``."""
    return [i.condition for i in getattr(docs, group) if i.api == api]


@pytest.mark.parametrize("version", sorted(SIZES))
def test_list_sizes_match_the_matrix(version):
    docs = parsed(version)
    assert (len(docs.converted), len(docs.raises)) == SIZES[version]
    # interpolate's four modes are sub-bullets: one bullet, four items once expanded; the
    # cuBLAS paragraph (up to 2.9) adds its three ops
    assert len(docs.cublas) == (3 if version in ("1.11", "2.0") else 0)
    assert len(docs.expanded()) == sum(SIZES[version]) + 3 + len(docs.cublas)


@pytest.mark.parametrize("version", sorted(SIZES))
def test_common_entries_and_no_stray_lists(version):
    docs = parsed(version)
    assert listed(docs, "converted", "torch.nn.Conv1d") == ["when called on CUDA tensor"]
    assert listed(docs, "raises", "torch.Tensor.put_") == [
        "when accumulate=False",
        "when accumulate=True and called on a CUDA tensor",
    ]
    assert listed(docs, "converted", "torch.Tensor.__getitem__") == [
        "when attempting to differentiate a CPU tensor and the index is a list of tensors"
    ]  # a bullet wrapped onto a second line
    (interpolate,) = [i for i in docs.raises if i.api == "torch.nn.functional.interpolate"]
    assert interpolate.options == ("linear", "bilinear", "bicubic", "trilinear")
    assert interpolate.expand()[1].condition == (
        "when attempting to differentiate a CUDA tensor and one of the following modes is used: "
        "bilinear"
    )
    apis = {i.api for i in docs.converted + docs.raises}
    assert "torch.mm" not in apis and "torch.mv" not in apis  # the cuBLAS list is its own
    assert all(i.group == "raises" for i in docs.cublas)
    assert all("CUBLAS_WORKSPACE_CONFIG" in i.condition for i in docs.cublas)
    assert all(i.api.startswith("torch.") for i in docs.items)
    assert all(i.group == "converted" for i in docs.converted)
    assert all(i.group == "raises" for i in docs.raises)


def test_torch_1_11():
    docs = parsed("1.11")
    # scatter_add_ and gather are split by input dimension across the two lists
    assert listed(docs, "converted", "torch.Tensor.scatter_add_") == [
        "when input dimension is one and called on a CUDA tensor"
    ]
    assert listed(docs, "raises", "torch.Tensor.scatter_add_") == [
        "when input dimension is larger than one and called on a CUDA tensor"
    ]
    assert listed(docs, "raises", "torch.gather") == [
        "when input dimension is larger than one and called on a CUDA tensor that requires grad"
    ]
    assert listed(docs, "raises", "torch.kthvalue") == ["with called on a CUDA tensor"]
    assert listed(docs, "raises", "torch.nn.MaxPool3d")
    assert not listed(docs, "raises", "torch.nn.MaxUnpool2d")
    assert not listed(docs, "raises", "torch.cumsum")


def test_torch_2_0():
    docs = parsed("2.0")
    assert listed(docs, "converted", "torch.Tensor.scatter_add_") == [
        "when called on a CUDA tensor"
    ]
    assert not listed(docs, "raises", "torch.Tensor.scatter_add_")
    for n in (1, 2, 3):
        assert listed(docs, "raises", f"torch.nn.MaxUnpool{n}d") == [""]  # no condition at all
    assert listed(docs, "raises", "torch.cumsum") == [
        "when called on a CUDA tensor when dtype is floating point or complex"
    ]
    assert listed(docs, "raises", "torch.bincount") == ["when called on a CUDA tensor"]
    assert not listed(docs, "converted", "torch.Tensor.scatter")


def test_torch_2_13():
    docs = parsed("2.13")
    for api in ("torch.nn.MaxPool3d", *(f"torch.nn.ReplicationPad{n}d" for n in (1, 2, 3))):
        assert listed(docs, "converted", api), api
        assert not listed(docs, "raises", api), api
    assert not listed(docs, "raises", "torch.kthvalue")
    assert listed(docs, "raises", "torch.bincount") == [
        "when called on a CUDA tensor and weights tensor is given"
    ]
    assert listed(docs, "converted", "torch.Tensor.scatter") == [
        "when src type is Tensor and called on CUDA tensor"
    ]
    assert listed(docs, "raises", "torch.Tensor.resize_") == ["when called with a quantized tensor"]
    # the Inductor notes are "-" bullets after another paragraph: in neither list
    assert not any("autotune" in i.condition for i in docs.items)


def test_a_docstring_without_the_lists():
    docs = parse_docstring("Sets a flag.\n\n    * :func:`torch.foo` when called\n")
    assert docs == DocLists(converted=(), raises=())


# ------------------------------------------------------------ the intros, found in linear time

#: The regexes the intros were once found with: ``.*`` between "following" and the
#: phrase backtracked quadratically (30,000 x "The following " took 171 s, issue 18).
_REGEX_INTROS = {
    "converted": re.compile(r"following\b.*\boperations will act deterministically", re.DOTALL),
    "raises": re.compile(r"following\b.*\boperations will throw", re.DOTALL),
}
_WORDS = ("The ", "following", "followings ", "operations will throw", "xoperations will throw",
          "operations will act deterministically", " ", "_", ".", "normally-nondeterministic ")


def test_the_intro_scan_reads_as_the_regex_did():
    """Every paragraph of up to five words from _WORDS: the scan and the old regex agree."""
    from detaudit.docs.docstring import _INTROS, _introduces

    agreed = {True: 0, False: 0}
    for size in range(1, 5):
        for words in itertools.product(_WORDS, repeat=size):
            paragraph = "".join(words)
            for group, phrase in _INTROS:
                found = _introduces(paragraph, phrase)
                assert found == bool(_REGEX_INTROS[group].search(paragraph)), (group, paragraph)
                agreed[found] += 1
    assert agreed[True] and agreed[False]  # both answers were exercised


def test_a_paragraph_of_30000_followings_without_the_phrase_has_no_lists():
    """Quadratic once (171 s); a scan answers at once. The result is asserted, not the time."""
    text = "The following " * 30_000 + "\n\n    * :func:`torch.foo` when called\n"
    assert parse_docstring(text) == DocLists(converted=(), raises=())


def test_the_phrase_after_30000_followings_still_introduces_its_list():
    text = (
        "The following " * 30_000
        + "operations will throw a RuntimeError:\n\n    * :func:`torch.foo` when called\n"
    )
    docs = parse_docstring(text)
    assert [(i.api, i.condition, i.group) for i in docs.items] == [
        ("torch.foo", "when called", "raises")
    ]


def test_installed_docstring_is_read_without_importing_torch():
    import subprocess
    import sys

    import torch

    code = (
        "import sys; from detaudit.docs.docstring import installed_docstring; "
        "installed_docstring(); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    version, text, source = installed_docstring()
    assert version == torch.__version__
    assert text == torch.use_deterministic_algorithms.__doc__
    assert source.endswith("__init__.py")
    docs = parse_docstring(text)
    assert docs.converted and docs.raises


# bullets (converted, raises) of the eight full texts; 2.15's bullet naming three pools counts once
FULL_SIZES = {
    "2.0.1": (17, 28),
    "2.2.2": (20, 29),
    "2.4.1": (20, 29),
    "2.6.0": (20, 29),
    "2.9.1": (22, 27),
    "2.13.0": (23, 25),
    "2.14.1": (25, 24),
    "2.15.0": (25, 32),
}


@pytest.mark.parametrize("version", sorted(FULL_SIZES))
def test_full_text_bullet_counts(version):
    docs = parsed(version)
    assert (docs.bullets("converted"), docs.bullets("raises")) == FULL_SIZES[version]
    assert all(i.line > 0 and i.api in i.bullet for i in docs.items)


def test_a_bullet_naming_three_apis_gives_three_items():
    docs = parsed("2.15.0")
    pools = [i for i in docs.raises if "torch.nn.MaxPool2d," in i.bullet]
    assert [i.api for i in pools] == [
        "torch.nn.MaxPool2d",
        "torch.nn.MaxPool3d",
        "torch.nn.AvgPool3d",
    ]
    assert {i.condition for i in pools} == {"when attempting to differentiate an MPS tensor"}
    assert len({i.line for i in pools}) == 1
    assert len(docs.raises) == 34  # 32 bullets, one of them three items
    assert listed(docs, "raises", "torch.Tensor.scatter_reduce") == [
        "when called on CUDA or MPS tensor"
    ]
    assert listed(docs, "raises", "torch.kthvalue") == ["when called on an MPS tensor"]
