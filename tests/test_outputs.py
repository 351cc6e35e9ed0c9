"""hear_mixers.outputs (the manifest, Parquet shards) and the Ray engine's embedding actor
run directly, without Ray (on CUDA where there is a GPU)."""

import json

import numpy as np
import pytest
import torch

from hear_mixers import cli, get_timestamp_embeddings, outputs, ray_engine
from hear_mixers.audio_io import read_audio
from test_cli import SR, write

pq = pytest.importorskip("pyarrow.parquet")
pd = pytest.importorskip("pandas")

CONFIG = {"model": "kwmlp", "weights_sha256": "ab" * 32, "depths": [12],
          "scene_pooling": "iterative", "seam_context": 16, "precision": "fp32",
          "sample_rate": 16000, "mode": "timestamps", "format": "parquet", "version": "0.1.0",
          "size": 64}


def test_the_manifest_names_every_difference(tmp_path):
    outputs.check_manifest(tmp_path, CONFIG, overwrite=False)
    assert json.loads((tmp_path / "_hear_mixers.json").read_text()) == CONFIG
    outputs.check_manifest(tmp_path, {**CONFIG, "model": "kwmlp_d12", "version": "9"}, False)
    other = {**CONFIG, "weights_sha256": "cd" * 32, "scene_pooling": "mean"}
    with pytest.raises(outputs.ConfigMismatch) as error:
        outputs.check_manifest(tmp_path, other, overwrite=False)
    message = str(error.value)
    assert f"weights_sha256 '{'ab' * 32}' there, '{'cd' * 32}' in this run" in message
    assert "scene_pooling 'iterative' there, 'mean' in this run" in message
    assert "depths" not in message and "--overwrite" in message
    outputs.check_manifest(tmp_path, other, overwrite=True)  # accepted, and recorded
    assert json.loads((tmp_path / "_hear_mixers.json").read_text()) == other


def test_timestamp_rows_nest_frames_and_partial_shards_are_invisible(tmp_path):
    g = np.random.default_rng(0)
    rows = [{"name": f"n{i}", "path": f"/x/n{i}.wav", "duration_s": 1.5, "sample_rate": 44100,
             "embedding": g.standard_normal((t, 64)).astype(np.float32),
             "timestamps": 15 + 10 * np.arange(t, dtype=np.float32)}
            for i, t in enumerate([1, 7, 3])]
    out = outputs.ParquetOutput(tmp_path, "timestamps", CONFIG, shard_rows=2)
    for row in rows:
        out.write(row)
    out.close()
    assert len(list(tmp_path.glob("part-*.parquet"))) == 2  # 2 rows, then 1
    # a shard cut off mid-write keeps its hidden temporary name: no reader sees it
    (tmp_path / ".part-cut.parquet.partial").write_bytes(b"PAR1 half a shard")
    assert outputs.done_names(tmp_path) == {"n0", "n1", "n2"}
    frame = pd.read_parquet(tmp_path).set_index("name")
    for row in rows:
        got = np.stack(frame.loc[row["name"], "embedding"])  # (T, 64)
        np.testing.assert_array_equal(got, row["embedding"])
        np.testing.assert_array_equal(frame.loc[row["name"], "timestamps"], row["timestamps"])
    assert list(frame.loc["n1", "depths"]) == [12] and frame.loc["n1", "sample_rate"] == 44100


def test_a_foreign_file_among_the_shards_is_named(tmp_path):
    (tmp_path / "part-foreign.parquet").write_text("not parquet")
    with pytest.raises(outputs.ConfigMismatch, match="part-foreign.parquet is not a readable"):
        outputs.done_names(tmp_path)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_the_embedding_actor_matches_the_cli(tmp_path, device, monkeypatch):
    """ray_engine._Embed called as Ray calls it (a numpy batch), long file included."""
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    monkeypatch.setattr(cli, "LONG_SECONDS", 2.0)  # read here, in this process
    for i, seconds in enumerate([1.0, 1.0, 0.6, 3.5]):
        write(tmp_path / f"{i}.wav", seconds, seed=i)
    decoded = [ray_engine._decode({"path": str(tmp_path / f"{i}.wav"), "name": str(i)}, SR)
               for i in range(4)]
    assert [d["long"] for d in decoded] == [False, False, False, True]
    batch = {key: ray_engine._column([d[key] for d in decoded]) for key in decoded[0]}
    actor = ray_engine._Embed("kwmlp", None, "timestamps", device, 1, "fp32")
    result = actor(batch)
    reference = cli.load("kwmlp", None, "cpu")[1]
    for i in range(4):
        assert result["error"][i] == ""
        audio = torch.from_numpy(read_audio(tmp_path / f"{i}.wav", SR))[None]
        frames, stamps = get_timestamp_embeddings(audio, reference)
        np.testing.assert_allclose(result["embedding"][i], frames[0].numpy(),
                                   atol=1e-5 if device == "cpu" else 2e-3, rtol=0)
        np.testing.assert_array_equal(result["timestamps"][i], stamps[0].numpy())

