"""The digest lock as a file format (read by the chart later) and the comparison `models verify` prints."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from app.errors import LockError, RegistryError
from app.gateway import ModelInfo
from app.lock import Lock, LockedModel, Mirror, compare, describe, manifest_digest, read_lock, write_lock
from scripts.models.library import mirror_digest_for, registry_ref

A = "a" * 64
B = "b" * 64
C = "c" * 64


def _locked(name: str = "snap2prod/smollm2", tag: str = "135m", digest: str = A, **kw: object) -> LockedModel:
    return LockedModel(name=name, tag=tag, digest=digest, size=98_363_025, capabilities=("completion",), **kw)  # type: ignore[arg-type]


def _info(name: str, digest: str) -> ModelInfo:
    return ModelInfo(name=name, digest=digest, size=1)


def test_the_lock_file_is_plain_yaml_with_the_documented_keys(tmp_path: Path) -> None:
    lock = Lock(ollama_version="0.32.15", models=(_locked(),))
    path = write_lock(lock, tmp_path / "models.lock")
    data = yaml.safe_load(path.read_text())
    assert data == {
        "version": 1,
        "ollama_version": "0.32.15",
        "models": [
            {
                "name": "snap2prod/smollm2",
                "tag": "135m",
                "digest": f"sha256:{A}",
                "size": 98_363_025,
                "capabilities": ["completion"],
            }
        ],
    }


def test_the_lock_file_starts_with_a_comment_saying_what_writes_it(tmp_path: Path) -> None:
    path = write_lock(Lock(ollama_version="0.32.15"), tmp_path / "models.lock")
    assert path.read_text().startswith("# snap2prod digest lock")
    assert "snap2prod models lock" in path.read_text().split("\nversion:")[0]


def test_a_lock_reads_back_as_written(tmp_path: Path) -> None:
    lock = Lock(
        ollama_version="0.32.15",
        mirror=Mirror(registry="127.0.0.1:5000/snap2prod", insecure=True),
        models=(_locked(mirror_digest=B), _locked(name="llava", tag="7b", digest=C)),
    )
    assert read_lock(write_lock(lock, tmp_path / "models.lock")) == lock


def test_bare_hex_digests_as_ollama_lists_them_are_normalized() -> None:
    assert _locked(digest=A.upper()).digest == f"sha256:{A}"


def test_a_missing_lock_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(LockError, match=r"No lock at .*Create it with `snap2prod models lock`"):
        read_lock(tmp_path / "models.lock")


def test_a_malformed_digest_is_reported_with_where_it_is(tmp_path: Path) -> None:
    path = tmp_path / "models.lock"
    path.write_text(
        "version: 1\nollama_version: 0.32.15\nmodels:\n- {name: x, tag: '1', digest: sha256:abc, size: 1}\n"
    )
    with pytest.raises(LockError, match=r"models.0.digest: 'sha256:abc' is not a sha256 digest"):
        read_lock(path)


def test_a_lock_of_another_format_version_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "models.lock"
    path.write_text("version: 2\nollama_version: 0.32.15\nmodels: []\n")
    with pytest.raises(LockError, match="version"):
        read_lock(path)


def test_a_model_locked_twice_is_rejected() -> None:
    with pytest.raises(ValueError, match="locked twice: snap2prod/smollm2:135m"):
        Lock(ollama_version="0.32.15", models=(_locked(), _locked(digest=B)))


# --- compare / describe -----------------------------------------------------------------------------------


def test_a_server_with_the_locked_digest_matches() -> None:
    drift = compare(Lock(ollama_version="x", models=(_locked(),)), [_info("snap2prod/smollm2:135m", A)])
    assert drift.clean
    assert [m.ref for m in drift.ok] == ["snap2prod/smollm2:135m"]


def test_a_locked_model_the_server_lacks_is_missing() -> None:
    drift = compare(Lock(ollama_version="x", models=(_locked(),)), [])
    assert not drift.clean
    assert [m.ref for m in drift.missing] == ["snap2prod/smollm2:135m"]


def test_another_digest_under_the_locked_name_differs() -> None:
    drift = compare(Lock(ollama_version="x", models=(_locked(),)), [_info("snap2prod/smollm2:135m", B)])
    assert not drift.clean
    assert [(d.locked.ref, d.found) for d in drift.differs] == [("snap2prod/smollm2:135m", f"sha256:{B}")]


def test_the_mirror_digest_counts_as_the_same_model() -> None:
    lock = Lock(ollama_version="x", models=(_locked(mirror_digest=B),))
    assert compare(lock, [_info("snap2prod/smollm2:135m", B)]).clean


def test_the_report_names_the_digest_the_server_serves_and_which_of_the_locks_it_is() -> None:
    """A lock whose digest was edited to bytes no server holds still matches through its mirror_digest: the
    promote report must then show the mirror's digest, not the edited one as if the cluster served it."""
    from scripts.promote.pipeline import served_models

    edited = Lock(ollama_version="x", models=(_locked(digest=C, mirror_digest=B),))
    drift = compare(edited, [_info("snap2prod/smollm2:135m", B)])
    assert drift.clean and drift.served == (("snap2prod/smollm2:135m", f"sha256:{B}"),)
    (model,) = served_models(edited, drift)
    assert (model["digest"], model["matched"]) == (f"sha256:{B}", "mirror_digest")
    plain = Lock(ollama_version="x", models=(_locked(),))
    assert [m["matched"] for m in served_models(plain, compare(plain, [_info("snap2prod/smollm2:135m", A)]))] == [
        "digest"
    ]


def test_models_the_lock_does_not_name_are_fine() -> None:
    drift = compare(
        Lock(ollama_version="x", models=(_locked(),)), [_info("snap2prod/smollm2:135m", A), _info("x:1", C)]
    )
    assert drift.clean
    assert drift.extra == ("x:1",)


def test_the_diff_names_each_problem_and_the_verdict() -> None:
    lock = Lock(ollama_version="x", models=(_locked(), _locked(name="llava", tag="7b", digest=C)))
    text = describe(compare(lock, [_info("snap2prod/smollm2:135m", B), _info("extra:1", C)]), "http://h:1")
    assert text.splitlines()[0] == "http://h:1 does not match the lock: 1 missing, 1 with another digest"
    assert f"- missing  llava:7b  locked {C[:12]}, not on the server" in text
    assert f"! differs  snap2prod/smollm2:135m  locked {A[:12]}, server has {B[:12]}" in text
    assert "(not locked, fine: extra:1)" in text


# --- re-locking -------------------------------------------------------------------------------------------


def test_relocking_an_unchanged_model_keeps_its_mirror_digest() -> None:
    lock = Lock(ollama_version="x", models=(_locked(mirror_digest=B),))
    assert lock.merged([_locked()], "y").models[0].mirror_digest == f"sha256:{B}"


def test_relocking_a_changed_model_drops_its_mirror_digest() -> None:
    lock = Lock(ollama_version="x", models=(_locked(mirror_digest=B),))
    merged = lock.merged([_locked(digest=C)], "y")
    assert (merged.models[0].digest, merged.models[0].mirror_digest) == (f"sha256:{C}", None)
    assert merged.ollama_version == "y"


def test_relocking_adds_new_models_after_the_old_ones() -> None:
    lock = Lock(ollama_version="x", models=(_locked(),))
    merged = lock.merged([_locked(name="llava", tag="7b", digest=C)], "x")
    assert [m.ref for m in merged.models] == ["snap2prod/smollm2:135m", "llava:7b"]


# --- mirror naming and digests ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("snap2prod/smollm2:135m", "127.0.0.1:5000/mirror/smollm2:135m"),
        ("llava:7b", "127.0.0.1:5000/mirror/llava:7b"),
        ("moondream", "127.0.0.1:5000/mirror/moondream:latest"),
    ],
)
def test_a_model_mirrors_to_registry_namespace_model_tag(name: str, expected: str) -> None:
    assert registry_ref("127.0.0.1:5000/mirror", name) == expected


@pytest.mark.parametrize("registry", ["127.0.0.1:5000", "127.0.0.1:5000/a/b", "/ns"])
def test_a_registry_must_be_host_and_one_namespace(registry: str) -> None:
    with pytest.raises(RegistryError, match="--registry must be HOST"):
        registry_ref(registry, "llava:7b")


def test_an_identical_registry_manifest_needs_no_mirror_digest() -> None:
    body = b'{"schemaVersion":2}'
    assert mirror_digest_for(manifest_digest(body), body, "r/n/m:t") is None


def test_a_registry_manifest_that_lacks_only_ollamas_trailing_newline_gets_a_mirror_digest() -> None:
    body = b'{"schemaVersion":2}'
    local = manifest_digest(body + b"\n").removeprefix("sha256:")
    assert mirror_digest_for(local, body, "r/n/m:t") == manifest_digest(body)


def test_any_other_registry_manifest_is_refused() -> None:
    with pytest.raises(RegistryError, match="is not the one pushed"):
        mirror_digest_for(manifest_digest(b"{}"), b'{"other":1}', "r/n/m:t")
