"""atomic_write: a reader sees the old file or the new one, never half of one."""

import pytest

from srunear.files import atomic_write


def test_text_bytes_and_streamed_chunks(tmp_path):
    path = tmp_path / "sub" / "out.txt"
    atomic_write(path, "a\r\nb")
    assert path.read_bytes() == b"a\r\nb"  # line ends as given
    atomic_write(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    atomic_write(path, (bytes([i]) * 3 for i in range(3)))
    assert path.read_bytes() == b"\x00\x00\x00\x01\x01\x01\x02\x02\x02"


def test_a_failure_while_streaming_keeps_the_previous_file_and_no_temporary(tmp_path):
    path = tmp_path / "out.txt"
    atomic_write(path, "complete")

    def chunks():
        yield b"half of "
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, chunks())
    assert path.read_text() == "complete"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
