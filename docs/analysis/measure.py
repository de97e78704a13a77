#!/usr/bin/env python3
"""Measures ambientd renders with third-party analysers, for docs/music.md.

Subcommands (each prints one JSON object per input, or writes a PNG):

  loudness WAV...         integrated loudness, LRA and true peak (ffmpeg's ebur128 filter)
  bands WAV...            share of the energy above 2.5 kHz and below 250 Hz (numpy Welch)
  key --expect KEY WAV    essentia KeyExtractor on every whole 1-minute excerpt
  plot WAV PNG [TITLE]    spectrogram + short-term loudness (ffmpeg ebur128 S values)
  keysweep OUTDIR         renders SEEDS x 24 keys with `ambientd render` and runs `key`
  log JSONL               chord changes/min, tonic openings, cadences, melody notes/min
                          from `cargo run --release --example score_log` output

The `ambientd` binary is taken from $AMBIENTD (default target/release/ambientd).
"""

import json
import os
import re
import subprocess
import sys

import numpy as np

AMBIENTD = os.environ.get("AMBIENTD", "target/release/ambientd")
PCS = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
ALIASES = {"Db": "C#", "D#": "Eb", "Gb": "F#", "G#": "Ab", "A#": "Bb"}


def ebur128(path):
    """(short-term loudness per 0.1 s, summary dict) from ffmpeg's ebur128 filter."""
    out = subprocess.run(
        ["ffmpeg", "-nostats", "-i", path, "-af", "ebur128=peak=true:framelog=info",
         "-f", "null", "-"], capture_output=True, text=True).stderr
    times, short = [], []
    for m in re.finditer(r"t:\s*([\d.]+)\s+TARGET.*?S:\s*(-?[\d.]+|-inf)", out):
        times.append(float(m.group(1)))
        short.append(float(m.group(2)) if m.group(2) != "-inf" else -120.0)
    summary = out[out.rfind("Summary:"):]
    pick = lambda name: float(re.search(name + r":\s*(-?[\d.]+)", summary).group(1))
    return np.array(times), np.array(short), {
        "integrated_lufs": pick("I"), "lra_lu": pick("LRA"), "true_peak_dbtp": pick("Peak")}


def read_mono(path):
    import wave
    with wave.open(path) as w:
        frames = w.readframes(w.getnframes())
        rate, channels = w.getframerate(), w.getnchannels()
    x = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
    return x.reshape(-1, channels).mean(axis=1), rate


def read_channels(path):
    import wave
    with wave.open(path) as w:
        frames = w.readframes(w.getnframes())
        rate, channels = w.getframerate(), w.getnchannels()
    x = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
    return x.reshape(-1, channels).T, rate


def bands(path):
    """Shares of the stereo energy (both channels' power summed, as heard)."""
    chans, rate = read_channels(path)
    n = 8192
    hop = n // 2
    window = np.hanning(n)
    power = np.zeros(n // 2 + 1)
    for x in chans:
        for start in range(0, len(x) - n, hop):
            power += np.abs(np.fft.rfft(x[start:start + n] * window)) ** 2
    freqs = np.fft.rfftfreq(n, 1.0 / rate)
    total = power[freqs >= 20].sum()
    return {"above_2k5": float(power[freqs >= 2500].sum() / total),
            "below_250": float(power[(freqs >= 20) & (freqs < 250)].sum() / total)}


def norm_key(text):
    tonic, mode = text.split()
    return ALIASES.get(tonic, tonic), mode


def key_excerpts(path, expect):
    import essentia.standard as es
    audio = es.MonoLoader(filename=path, sampleRate=44100)()
    want = norm_key(expect)
    minute = 60 * 44100
    results = []
    for start in range(0, len(audio) - minute + 1, minute):
        key, scale, strength = es.KeyExtractor()(audio[start:start + minute])
        heard = (ALIASES.get(key, key), scale)
        results.append({"heard": f"{heard[0]} {heard[1]}", "ok": heard == want,
                        "strength": round(float(strength), 3)})
    return results


def plot(path, png, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    x, rate = read_mono(path)
    times, short, summary = ebur128(path)
    fig, (a, b) = plt.subplots(2, 1, figsize=(12, 7), sharex=True,
                               gridspec_kw={"height_ratios": [3, 1.4]})
    a.specgram(x, NFFT=4096, Fs=rate, noverlap=2048, cmap="magma", vmin=-140, vmax=-30,
               scale="dB")
    a.set_yscale("symlog", linthresh=500)
    a.set_ylim(30, 16000)
    a.set_ylabel("Hz")
    a.set_title(f"{title}  ({summary['integrated_lufs']} LUFS, LRA {summary['lra_lu']} LU, "
                f"{summary['true_peak_dbtp']} dBTP)")
    b.plot(times, short, lw=0.8)
    b.set_ylim(-40, -10)
    b.set_ylabel("short-term LUFS")
    b.set_xlabel("seconds")
    b.grid(alpha=0.3)
    b.set_xlim(0, len(x) / rate)
    fig.tight_layout()
    fig.savefig(png, dpi=80)
    # A 128-colour palette keeps each figure a few hundred kB (the spectrogram's noise floor
    # compresses badly in full colour).
    from PIL import Image
    Image.open(png).convert("RGB").quantize(colors=128).save(png, optimize=True)


def keysweep(outdir, seeds, seconds):
    os.makedirs(outdir, exist_ok=True)
    keys = [f"{pc} {mode}" for mode in ("minor", "major") for pc in PCS]
    tally = {"minor": [0, 0], "major": [0, 0]}
    for seed in seeds:
        for key in keys:
            wav = os.path.join(outdir, "k.wav")
            subprocess.run([AMBIENTD, "render", "--seconds", str(seconds), "--out", wav,
                            "--seed", str(seed), "--key", key], check=True,
                           capture_output=True)
            res = key_excerpts(wav, key)
            mode = key.split()[1]
            tally[mode][0] += sum(r["ok"] for r in res)
            tally[mode][1] += len(res)
            print(json.dumps({"seed": seed, "key": key, "excerpts": res}), flush=True)
    ok = tally["minor"][0] + tally["major"][0]
    n = tally["minor"][1] + tally["major"][1]
    print(json.dumps({"summary": {m: f"{a}/{b}" for m, (a, b) in tally.items()},
                      "heard": round(ok / n, 3)}))


def score_log(path):
    """Figures from the composer's own log: one JSON object per phrase."""
    phrases = [json.loads(line) for line in open(path) if line.strip()]
    seconds = sum(p["seconds"] for p in phrases)
    changes, previous = 0, None
    opens = cadences = 0
    for p in phrases:
        chords = p["chords"]
        for c in chords:
            if previous is not None and c != previous:
                changes += 1
            previous = c
        opens += chords[0] == 0
        cadences += p["cadence"]
    lead = sum(p["lead_notes"] for p in phrases)
    high = sum(p.get("onsets_above_c5", 0) for p in phrases)
    return {"phrases": len(phrases), "minutes": round(seconds / 60, 2),
            "chord_changes_per_min": round(changes / seconds * 60, 2),
            "tonic_openings": round(opens / len(phrases), 3),
            "cadence_endings": round(cadences / len(phrases), 3),
            "melody_notes_per_min": round(lead / seconds * 60, 2),
            "onsets_above_c5_per_min": round(high / seconds * 60, 2)}


def main(argv):
    cmd = argv[1]
    if cmd == "loudness":
        for path in argv[2:]:
            print(json.dumps({"file": path, **ebur128(path)[2]}))
    elif cmd == "bands":
        for path in argv[2:]:
            print(json.dumps({"file": path, **bands(path)}))
    elif cmd == "key":
        expect = argv[3]
        for path in argv[4:]:
            res = key_excerpts(path, expect)
            print(json.dumps({"file": path, "ok": sum(r["ok"] for r in res),
                              "of": len(res), "excerpts": res}))
    elif cmd == "plot":
        plot(argv[2], argv[3], argv[4] if len(argv) > 4 else os.path.basename(argv[2]))
    elif cmd == "keysweep":
        seeds = [int(s) for s in os.environ.get("SEEDS", "101,202,303,404,505,606,707,808")
                 .split(",")]
        keysweep(argv[2], seeds, int(os.environ.get("SECONDS_PER_KEY", "120")))
    elif cmd == "log":
        print(json.dumps(score_log(argv[2])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
