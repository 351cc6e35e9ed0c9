"""The HEAR 2021 common API, shared by every hear_mixers variant module.

Timestamps: one embedding every `frame_hop` samples (10 ms for KW-MLP), stamped in
milliseconds at the centre of its analysis frame: frame k covers samples
[k * hop, k * hop + frame_length), so KW-MLP stamps 15, 25, 35, ... ms. Only frames that lie
wholly inside the audio are returned (a clip shorter than one frame gets one frame, stamped
at the clip's midpoint), so no timestamp passes the end and the zero padding that short
clips get never reaches a scene embedding.

Seams: the encoder sees fixed windows (KW-MLP: 98 frames = 1 s). Audio of exactly one
window is embedded as the model saw it in training. Longer audio is covered by windows that
overlap by 2 * seam_context frames; each frame is taken from the window in which it has at
least `seam_context` frames of real context on both sides (the first and last frames of the
audio excepted), so every frame appears once and no frame sits at a window edge unless it
is at the edge of the audio. The last window is aligned to the end of the audio, so only
audio shorter than one window is padded (with zeros, at the end). The frontend's frame-local
part runs once per clip and the windows are cut from its features (`Encoder.features`), so
overlapping windows share them; so does a stem that is a slice of the clip's
(`Encoder.window_source`: the ASMs' patch embedding).
"""

import contextlib
import math
import warnings
from pathlib import Path
from typing import Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from hear_mixers.checkpoint import load_checkpoint
from hear_mixers.models.base import Encoder
from hear_mixers.pooling import POOLINGS, SCENE_STEPS, scene_embedding

SEAM_CONTEXT_MS = 160  # default context kept on each side of a seam (KW-MLP: 16 frames)
CHUNK_BATCH_SIZE = 256  # windows per encoder forward; bounds memory for long audio
CPU_CHUNK_BATCH_SIZE = 64  # default on CPU: ~1.2x faster and half the peak memory of 256
# (working set stays in cache; benchmarks/, measured KW-MLP d12, 1 thread)
# autocast dtype per `precision`; "tf32" keeps float32 tensors and lets CUDA matmuls use TF32
PRECISIONS = {"fp32": None, "tf32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
AUTO = "auto"  # bf16 on a CPU with native bf16 matmuls (AVX512-BF16 or AMX), else fp32
# audio is float in [-1, 1]; clipped or boosted audio up to this peak is embedded, beyond it
# is refused (unscaled 16-bit PCM peaks near 32768; from ~1e18 the power spectrum overflows)
MAX_AMPLITUDE = 1000.0


class Embedder(nn.Module):
    """A HEAR model: an encoder plus the choices that turn its windows into embeddings.
    Every option is checked here; `load_model` documents them."""

    def __init__(
        self,
        encoder: Encoder,
        depth: Union[int, Sequence[int], None] = None,
        scene_pooling: str = "iterative",
        seam_context: Union[int, None] = None,
        chunk_batch_size: Union[int, None] = None,
        precision: str = "fp32",
    ):
        super().__init__()
        geo = encoder.geometry
        if seam_context is None:  # SEAM_CONTEXT_MS worth of frames, as far as a window allows
            hop_ms = 1000 * geo.frame_hop / geo.sample_rate
            seam_context = min(round(SEAM_CONTEXT_MS / hop_ms), (geo.window_frames - 1) // 2)
        self.encoder = encoder
        self.depths = _check_depths(depth, geo.num_blocks)
        self.scene_pooling = _check_choice("scene_pooling", scene_pooling, POOLINGS)
        self.seam_context = _check_int(
            "seam_context", seam_context, 0, (geo.window_frames - 1) // 2, " frames")
        self.chunk_batch_size = None if chunk_batch_size is None else _check_int(
            "chunk_batch_size", chunk_batch_size, 1)  # None: by device (see chunk_size)
        self.precision = _check_choice("precision", precision, [*PRECISIONS, AUTO])
        # the three HEAR attributes, plain ints
        self.sample_rate = int(geo.sample_rate)
        self.timestamp_embedding_size = int(geo.embed_dim * len(self.depths))
        self.scene_embedding_size = int(SCENE_STEPS * self.timestamp_embedding_size)

    def extra_repr(self) -> str:
        return (
            f"depths={self.depths}, scene_pooling={self.scene_pooling!r}, "
            f"seam_context={self.seam_context}, chunk_batch_size={self.chunk_batch_size}, "
            f"precision={self.precision!r}"
        )

    def chunk_size(self, device: torch.device) -> int:
        """Windows per encoder forward on `device`."""
        if self.chunk_batch_size is not None:
            return self.chunk_batch_size
        return CPU_CHUNK_BATCH_SIZE if device.type == "cpu" else CHUNK_BATCH_SIZE

    def precision_on(self, device: torch.device) -> str:
        """The precision the encoder runs in on `device` ("auto" resolved)."""
        if self.precision != AUTO:
            return self.precision
        return "bf16" if device.type == "cpu" and native_bf16_cpu() else "fp32"

    def num_frames(self, num_samples: int) -> int:
        """Frames wholly inside `num_samples` of audio; at least one."""
        geo = self.encoder.geometry
        return max(1, (num_samples - geo.frame_length) // geo.frame_hop + 1)

    def timestamps(self, num_samples: int, device: torch.device) -> torch.Tensor:
        """(T,) frame centres in milliseconds."""
        geo = self.encoder.geometry
        if num_samples < geo.frame_length:  # one frame, part padding: stamp the clip's middle
            centres = torch.tensor([num_samples / 2], dtype=torch.float64, device=device)
        else:
            frames = torch.arange(self.num_frames(num_samples), dtype=torch.float64, device=device)
            centres = frames * geo.frame_hop + geo.frame_length / 2
        return (centres * 1000 / geo.sample_rate).float()

    def frame_embeddings(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, N) float audio on the model's device -> (B, T, timestamp_embedding_size)."""
        enc, geo = self.encoder, self.encoder.geometry
        frames, size, hop = geo.window_frames, geo.window_samples, geo.frame_hop
        batch, num_samples = audio.shape
        total = self.num_frames(num_samples)
        if num_samples < size:  # shorter than one window: zeros after the end
            audio = F.pad(audio, (0, size - num_samples))

        # windows start every `step` frames; the last one ends on the last frame
        margin = self.seam_context
        step = frames - 2 * margin
        n_win = 1 + math.ceil(max(0, total - frames) / step)
        starts = torch.arange(n_win, device=audio.device) * step
        starts[-1] = max(0, total - frames)
        # frame t is read from window win[t], at position t - starts[win[t]]
        t = torch.arange(total, device=audio.device)
        win = torch.div(t - margin, step, rounding_mode="floor").clamp(0, n_win - 1)
        pos = t - starts[win]

        # the frame-local frontend once per clip; windows' tokens are taken from it (and
        # from the stem, where that too is computed once per clip)
        with torch.autocast(audio.device.type, enabled=False):
            source = enc.window_source(enc.features(audio))  # e.g. (B, bins, F) features
        firsts = starts * (hop // geo.feature_hop)  # (n_win,) first feature frame of each window
        out = audio.new_empty(batch * n_win, frames, self.timestamp_embedding_size)
        precision = self.precision_on(audio.device)
        chunk, dtype = self.chunk_size(audio.device), PRECISIONS[precision]
        # reduced precision: the blocks under autocast (frontend and stem stay float32); `out`
        # stays float32, so the embeddings come back float32
        with torch.autocast(audio.device.type, dtype=dtype, enabled=dtype is not None), \
                _tf32_matmuls(precision == "tf32" and audio.device.type == "cuda"):
            for i in range(0, batch * n_win, chunk):
                idx = torch.arange(i, min(i + chunk, batch * n_win), device=audio.device)
                with torch.autocast(audio.device.type, enabled=False):
                    x = enc.window_tokens(source, idx // n_win, firsts[idx % n_win])
                parts = enc.forward_tokens(x, self.depths)
                torch.cat(parts, -1, out=out[i : i + len(idx)])  # written in place, as float32
        return out.view(batch, n_win, frames, -1)[:, win, pos]  # (B, T, D)


def native_bf16_cpu() -> bool:
    """Whether this CPU multiplies bf16 matrices natively (AVX512-BF16 or AMX tiles), where
    bf16 autocast is faster than float32; elsewhere it is emulated and slower."""
    cpu = torch.cpu
    try:
        return bool(cpu._is_avx512_bf16_supported() or cpu._is_amx_tile_supported())
    except AttributeError:  # a torch without these probes: assume not
        return False


@contextlib.contextmanager
def _tf32_matmuls(enabled: bool):
    """CUDA float32 matmuls in TF32 inside the block (precision="tf32"); the process-wide
    setting is restored after, so a caller's own choice stands outside our calls."""
    if not enabled:
        yield
        return
    matmul = torch.backends.cuda.matmul
    before = matmul.fp32_precision
    matmul.fp32_precision = "tf32"
    try:
        yield
    finally:
        matmul.fp32_precision = before


def load_model(model_file_path: str, **options) -> Embedder:
    """Load a hear_mixers (or published kwmlp) checkpoint as a HEAR model in eval mode.

    The HEAR modules (`hear_mixers`, `hear_mixers.<variant>`) call this with their own weight
    file when `model_file_path` is empty. Options, all keywords:

    depth: block whose output is the embedding (1..L, default L), or a list of blocks whose
        embeddings are concatenated in the order given.
    scene_pooling: "iterative" (HEAR 2021 kwmlp), "single" or "mean" (paper Table 2).
    seam_context: embedding frames of context kept on both sides of a seam between
        windows; default: 160 ms worth (KW-MLP 16, the small ASMs 2).
    chunk_batch_size: windows per encoder forward (memory bound for long audio); default
        64 on CPU, 256 on other devices.
    precision: "fp32" (the API's default; the general and small ASM variants' is "auto"),
        or "bf16" / "fp16" to run the encoder's blocks under torch.autocast (meant for GPUs
        and for CPUs with native bf16; the frontend, the stem and the residual stream stay
        float32 and embeddings come back float32); "tf32": float32 tensors, CUDA matmuls in
        TF32 during our calls only; the same as "fp32" on other devices; "auto": "bf16" on a
        CPU with native bf16 (AVX512-BF16 or AMX), "fp32" elsewhere (decided at each call,
        on the model's device).
    """
    if not model_file_path:
        raise ValueError("load_model needs a checkpoint path; the HEAR modules "
                         "(hear_mixers, hear_mixers.<variant>) fill in their own weights")
    path = Path(model_file_path)
    encoder, meta = load_checkpoint(path)
    if meta.get("trained") is False:
        warnings.warn(f"{path} holds untrained weights: {meta.get('note', 'no note')}")
    return Embedder(encoder, **options).eval()


def get_timestamp_embeddings(
    audio: torch.Tensor, model: Embedder
) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, N) audio at `model.sample_rate` -> embeddings (B, T, D) and timestamps (B, T) in ms,
    both on the model's device (audio elsewhere is moved there)."""
    audio = _check_audio(audio, model)
    # no_grad, not inference_mode: inference tensors cannot be saved for backward, so a user
    # training a probe on the embeddings in the same process would get an error
    with torch.no_grad():
        embeddings = model.frame_embeddings(audio)
    timestamps = model.timestamps(audio.shape[1], audio.device)
    return embeddings, timestamps.expand(audio.shape[0], -1).contiguous()


def get_scene_embeddings(audio: torch.Tensor, model: Embedder) -> torch.Tensor:
    """(B, N) audio -> (B, scene_embedding_size), pooled from the frames inside the audio."""
    return get_timestamp_and_scene_embeddings(audio, model)[2]


def get_timestamp_and_scene_embeddings(
    audio: torch.Tensor, model: Embedder
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Both outputs from one encoder pass, for callers that want frames and a clip vector
    of the same audio: (B, T, D) embeddings, (B, T) timestamps in ms, (B, scene size).
    The same numbers as `get_timestamp_embeddings` and `get_scene_embeddings` called in
    turn (not part of the HEAR API), at about the cost of the first alone."""
    embeddings, timestamps = get_timestamp_embeddings(audio, model)
    with torch.no_grad():
        return embeddings, timestamps, scene_embedding(embeddings, model.scene_pooling)


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_depths(depth, max_depth: int) -> list[int]:
    if depth is None:
        return [max_depth]
    depths = [depth] if _is_int(depth) else depth
    if not isinstance(depths, (list, tuple)) or not depths:
        raise ValueError(f"depth must be an int or a non-empty list of ints, got {depth!r}")
    for d in depths:
        if not _is_int(d) or not 1 <= d <= max_depth:
            raise ValueError(f"depth must be in 1..{max_depth} (blocks of this model), got {d!r}")
    if len(set(depths)) != len(depths):
        raise ValueError(f"depth list has repeats: {list(depths)}")
    return list(depths)


def _check_choice(name: str, value, choices) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def _check_int(name: str, value, low: int, high: Union[int, None] = None, unit: str = "") -> int:
    """An int in low..high (no upper bound when high is None)."""
    if not _is_int(value) or value < low or (high is not None and value > high):
        kind = f"an int in {low}..{high}{unit}" if high is not None else (
            "a positive int" if low == 1 else f"an int >= {low}")
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return value


def _check_audio(audio, model) -> torch.Tensor:
    if not isinstance(model, Embedder):
        raise TypeError(f"model must come from hear_mixers load_model(), got {type(model).__name__}")
    if not isinstance(audio, torch.Tensor):
        raise TypeError(f"audio must be a torch.Tensor (batch, samples), got {type(audio).__name__}")
    if audio.ndim != 2:
        raise ValueError(
            f"audio must be 2-D (batch, samples), got shape {tuple(audio.shape)}"
            + ("; add a batch axis with audio[None]" if audio.ndim == 1 else "")
        )
    if not audio.is_floating_point():
        raise TypeError(
            f"audio must be floating point in [-1, 1], got {audio.dtype} "
            "(for 16-bit PCM use audio.float() / 32768)"
        )
    if audio.shape[0] == 0:
        raise ValueError("audio batch is empty (shape (0, N))")
    if audio.shape[1] == 0:
        raise ValueError("audio has zero length (shape (B, 0)): nothing to embed")
    frames, channels = audio.shape
    if channels <= 8 and frames >= 1000 * channels:
        # soundfile's (frames, channels) layout taken for (batch, samples): no real batch is
        # a thousand times more clips than samples, at most 8 samples each (shorter than any
        # model's frame), so real audio is never refused
        raise ValueError(
            f"audio of shape {tuple(audio.shape)} looks like (frames, channels), as soundfile "
            "reads it, not (batch, samples): transpose it (audio.T) for one clip per channel, "
            "or downmix it to one clip with audio.mean(dim=1)[None]"
        )
    param = next(model.encoder.parameters())
    # contiguous: a strided view gets the same embeddings as its copy, bit for bit
    audio = audio.to(device=param.device, dtype=param.dtype).contiguous()
    # one pass and one host sync: aminmax propagates NaN, and Inf shows in lo or hi
    lo, hi = torch.stack(torch.aminmax(audio)).tolist()
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError("audio contains NaN or Inf values")
    peak = max(-lo, hi)
    if peak > MAX_AMPLITUDE:
        raise ValueError(
            f"audio peaks at {peak:g}, far outside [-1, 1] (limit {MAX_AMPLITUDE:g}): "
            "is it integer PCM cast to float? For 16-bit PCM use audio / 32768"
        )
    return audio
