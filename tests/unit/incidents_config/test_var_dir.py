"""Which var dir a command works in: a setting always wins; left at its default, ./var if it
is a stack's, else the one this checkout's `incidents up` recorded, else ./var."""

from __future__ import annotations

from pathlib import Path

from incidents_config.settings import PathsSettings, load_settings
from incidents_config.var_dir import MARKER, VarDir, checkout, locate, pointer_file, record


def default_paths(tmp_path: Path) -> PathsSettings:
    """The settings of a user who set nothing but where the cache is (a test's own)."""
    paths = load_settings(tmp_path / "none.env").paths.model_copy(
        update={"cache_dir": tmp_path / "cache"}
    )
    assert "var_dir" not in paths.model_fields_set and paths.var_dir == Path("var")
    return paths


def folder(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def test_up_records_the_var_dir_and_commands_elsewhere_find_it(tmp_path: Path) -> None:
    paths, code = default_paths(tmp_path), folder(tmp_path / "checkout")
    project, elsewhere = folder(tmp_path / "project"), folder(tmp_path / "elsewhere")
    at_up = locate(paths, cwd=project, code=code)
    assert at_up == VarDir((project / "var").resolve(), "default")
    record(paths, at_up, code=code)

    assert locate(paths, cwd=project, code=code) == VarDir(at_up.path, "here")
    found = locate(paths, cwd=elsewhere, code=code)
    assert found == VarDir(at_up.path, "recorded")
    assert found.path.is_absolute() and str(project) in found.describe()


def test_an_explicit_setting_always_wins_and_records_nothing(tmp_path: Path) -> None:
    code, here = folder(tmp_path / "checkout"), folder(tmp_path / "here")
    record(default_paths(tmp_path), VarDir(folder(tmp_path / "project" / "var"), "here"), code=code)
    (folder(here / "var") / MARKER).write_text("")
    env = tmp_path / "incidents.env"
    env.write_text(f"INCIDENTS_VAR_DIR=mine\nINCIDENTS_CACHE_DIR={tmp_path / 'cache'}\n")
    explicit = load_settings(env).paths
    before = pointer_file(explicit.cache_dir, code).read_text()

    chosen = locate(explicit, cwd=here, code=code)
    assert chosen == VarDir(here / "mine", "setting")  # relative to where it runs, absolute
    assert "INCIDENTS_VAR_DIR" in chosen.describe()
    record(explicit, chosen, code=code)  # what a test's `incidents up` does
    assert (here / "mine" / MARKER).is_file()
    assert pointer_file(explicit.cache_dir, code).read_text() == before


def test_two_checkouts_each_find_their_own_stack(tmp_path: Path) -> None:
    paths = default_paths(tmp_path)
    first, second = folder(tmp_path / "a" / "proj"), folder(tmp_path / "b" / "proj")
    for code in (first, second):
        record(paths, locate(paths, cwd=code, code=code), code=code)
    elsewhere = folder(tmp_path / "elsewhere")
    assert locate(paths, cwd=elsewhere, code=first).path == first / "var"
    assert locate(paths, cwd=elsewhere, code=second).path == second / "var"


def test_a_var_dir_no_stack_marked_does_not_hide_the_recorded_one(tmp_path: Path) -> None:
    """Run from / a command finds /var, which is not ours."""
    paths, code = default_paths(tmp_path), folder(tmp_path / "checkout")
    project = folder(tmp_path / "project")
    record(paths, locate(paths, cwd=project, code=code), code=code)
    root_like = folder(tmp_path / "root")
    folder(root_like / "var" / "run")
    assert locate(paths, cwd=root_like, code=code) == VarDir(project / "var", "recorded")
    # With no stack recorded, ./var is used as it always was.
    other = folder(tmp_path / "other-checkout")
    assert locate(paths, cwd=root_like, code=other) == VarDir(root_like / "var", "default")


def test_a_recorded_var_dir_that_is_gone_is_not_used_and_said_so(tmp_path: Path) -> None:
    paths, code = default_paths(tmp_path), folder(tmp_path / "checkout")
    project = folder(tmp_path / "project")
    record(paths, locate(paths, cwd=project, code=code), code=code)
    (project / "var" / MARKER).unlink()
    (project / "var").rmdir()
    elsewhere = folder(tmp_path / "elsewhere")
    found = locate(paths, cwd=elsewhere, code=code)
    assert found.path == elsewhere / "var" and found.how == "default"
    assert found.describe() == (
        f"{elsewhere / 'var'}, ./var here; {project / 'var'}, recorded by `incidents up`, is gone"
    )


def test_an_unreadable_record_is_ignored(tmp_path: Path) -> None:
    paths, code = default_paths(tmp_path), folder(tmp_path / "checkout")
    pointer = pointer_file(paths.cache_dir, code)
    pointer.parent.mkdir(parents=True)
    pointer.write_bytes(b"relative/var\n")
    assert locate(paths, cwd=folder(tmp_path / "x"), code=code).how == "default"
    pointer.write_bytes(b"\xff\xfe")
    assert locate(paths, cwd=tmp_path / "x", code=code).how == "default"
    target = folder(tmp_path / "stack" / "var")
    pointer.write_bytes(f"{target}\x00\n".encode())  # a NUL: no such path
    assert locate(paths, cwd=tmp_path / "x", code=code).how == "default"
    pointer.write_bytes(f"{target}/{'a' * 5000}\n".encode())  # longer than any path: not read
    assert locate(paths, cwd=tmp_path / "x", code=code).how == "default"
    pointer.write_bytes(f"{target}\n".encode())  # the same file, readable again
    assert locate(paths, cwd=tmp_path / "x", code=code).how == "recorded"


def test_the_checkout_is_this_repository() -> None:
    assert (checkout() / "incidents_config" / "var_dir.py").is_file()
