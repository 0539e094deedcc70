"""Genome-scale use on real data: windows over the E. coli genome and janggu's peaks, chatnt scan (tracks, resume
after kill -9, 2 processes under accelerate launch), chatnt variants (VCF) and multi-process predict."""

import gzip
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from chatnt.cli import main
from chatnt.commands import predict, scan, score_variants
from chatnt.genome.regions import Region, parse_region, read_bed
from chatnt.genome.vcf import Reference, read_vcf, variant_windows
from chatnt.genome.windows import GenomeWindows, reverse_complement
from helpers import SHARED_DATA, random_dna
from test_cli_commands import save_tiny_model, write_fasta

ECOLI = SHARED_DATA / "ecoli" / "NC_008253.fna.gz"
CHROM = "gi|110640213|ref|NC_008253.1|"
PSEUDO_GENOME = SHARED_DATA / "janggu" / "pseudo_genome.fa.gz"
QUESTION = "Is @seq a promoter? Answer yes or no."


@pytest.fixture(scope="module")
def ecoli() -> str:
    with gzip.open(ECOLI, "rt") as handle:
        return "".join(line.strip() for line in handle if not line.startswith(">"))


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, text_tokenizer, dna_tokenizer) -> str:
    return save_tiny_model(tmp_path_factory.mktemp("chatnt-tiny"), text_tokenizer, dna_tokenizer)


@pytest.mark.parametrize("window, stride", [(1000, 1000), (1000, 300), (777, 777), (500, 1)])
def test_windows_cover_each_region_exactly_on_both_strands(ecoli, window, stride):
    regions = [Region(CHROM, 0, 5000), Region(CHROM, 12_345, 14_000), Region(CHROM, len(ecoli) - 2_500, len(ecoli))]
    plan = GenomeWindows(ECOLI, window, stride, regions if stride > 1 else regions[1:2], "both")
    windows = list(plan)
    assert len(windows) == len(plan) and [w.index for w in windows] == list(range(len(windows)))
    for region in plan.regions:
        plus = [w for w in windows if w.strand == "+" and region.start <= w.start < region.end]
        assert plus[0].start == region.start and plus[-1].end == region.end  # no gap at either end
        for before, after in zip(plus, plus[1:]):
            assert after.start - before.start == stride  # no gap, overlap exactly window - stride
            assert before.end - before.start == window
        assert all(w.end <= region.end for w in plus)
    for item in windows:  # 0-based, half-open; the - strand is the reverse complement
        bases = ecoli[item.start:item.end]
        assert item.sequence == (bases if item.strand == "+" else reverse_complement(bases))


def test_a_plain_fasta_read_by_index_gives_the_windows_a_gzip_stream_gives(tmp_path):
    plain = tmp_path / "pseudo_genome.fa"
    with gzip.open(PSEUDO_GENOME, "rb") as source, open(plain, "wb") as target:
        shutil.copyfileobj(source, target)
    regions = read_bed(SHARED_DATA / "janggu" / "roi_test.bed")  # pseudo2 0 40000, janggu's own BED
    streamed = GenomeWindows(PSEUDO_GENOME, 200, 200, regions, "both")
    indexed = GenomeWindows(plain, 200, 200, regions, "both")
    assert not streamed.indexed and indexed.indexed and (tmp_path / "pseudo_genome.fa.fai").is_file()
    assert len(streamed) == 400 and list(streamed) == list(indexed)


def test_bad_windows_and_regions_are_refused_in_one_line(tmp_path):
    with pytest.raises(ValueError, match="--stride 300 is larger than --window 200"):
        GenomeWindows(ECOLI, 200, 300)
    with pytest.raises(ValueError, match=r"region chr1:0-100 is on 'chr1', which .* does not hold \(gi\|110640213"):
        GenomeWindows(ECOLI, 200, 200, [Region("chr1", 0, 100)])
    with pytest.raises(ValueError, match=r"ends past gi\|110640213\|ref\|NC_008253.1\| \(4,938,920 bp\)"):
        GenomeWindows(ECOLI, 200, 200, [Region(CHROM, 4_938_000, 4_939_000)])
    bed = tmp_path / "bad.bed"
    bed.write_text("chr1\t10\n")
    with pytest.raises(ValueError, match=r"bad.bed, line 1: a BED line needs chrom, start and end"):
        read_bed(bed)
    bed.write_text("chr1\t10\t5\n")
    with pytest.raises(ValueError, match="start 10 must be >= 0 and less than end 5"):
        read_bed(bed)
    assert parse_region("chrX:1,000-2,000") == Region("chrX", 1000, 2000)


def _scan(model, out, **options):
    settings = dict(window=200, stride=100, strands="both", regions=[f"{CHROM}:1000-3000"], batch_size=3,
                    max_new_tokens=3, progress=False)
    return scan(ECOLI, QUESTION, out, model=model, **(settings | options))


def test_scan_writes_tracks_that_tile_the_region(tiny_model, tmp_path):
    summary = _scan(tiny_model, tmp_path / "track")
    rows = [line.split("\t") for line in (tmp_path / "track.tsv").read_text().splitlines()]
    assert rows[0] == ["chrom", "start", "end", "strand", "answer", "parsed", "probability", "calibrated"]
    assert len(rows) - 1 == summary.windows == 2 * 19
    bed = [line.split("\t") for line in (tmp_path / "track.bed").read_text().splitlines()]
    assert [(b[0], int(b[1]), int(b[2]), b[5]) for b in bed] == [(r[0], int(r[1]), int(r[2]), r[3]) for r in rows[1:]]
    for name in ("track.bedGraph", "track.minus.bedGraph"):
        lines = (tmp_path / name).read_text().splitlines()
        assert lines[0].startswith("track type=bedGraph")
        bins = [(int(line.split("\t")[1]), int(line.split("\t")[2])) for line in lines[1:]]
        assert bins[0][0] == 1000 and bins[-1][1] == 3000  # the region, tiled without gap or overlap
        assert all(end == next_start for (_, end), (next_start, _) in zip(bins, bins[1:]))
    assert (tmp_path / "track.png").stat().st_size > 1000
    assert summary.track == "P(yes)"
    with pytest.raises(ValueError, match="already exists"):
        _scan(tiny_model, tmp_path / "track")


def test_scan_refuses_a_window_longer_than_the_model_reads(tiny_model, tmp_path):
    with pytest.raises(ValueError, match=r"--window 500 is longer than the model reads .* Use --window 234 or less"):
        _scan(tiny_model, tmp_path / "long", window=500, stride=500)
    assert not list(tmp_path.iterdir())


def _environment() -> dict:
    return os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parent)}


SCAN_ARGUMENTS = ["scan", "--fasta", str(ECOLI), "--question", QUESTION, "--region", f"{CHROM}:0-40000",
                  "--window", "200", "--stride", "100", "--strands", "both", "--batch-size", "4",
                  "--max-new-tokens", "3", "--no-progress"]


def test_scan_resumes_after_kill_9_with_the_uninterrupted_result(tiny_model, tmp_path):
    assert main([*SCAN_ARGUMENTS, "--model", tiny_model, "--out", str(tmp_path / "whole")]) == 0
    command = [sys.executable, "-m", "chatnt.cli", *SCAN_ARGUMENTS, "--model", tiny_model, "--out", str(tmp_path / "cut")]
    process = subprocess.Popen(command, env=_environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    partial = tmp_path / "cut.tsv.partial"
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        if partial.exists() and partial.read_bytes().count(b"\n") > 8:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the scan finished before it could be killed: scan more windows"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (tmp_path / "cut.tsv").exists()  # nothing that looks finished
    rows_before = partial.read_bytes().count(b"\n") - 1
    assert main([*SCAN_ARGUMENTS, "--model", tiny_model, "--out", str(tmp_path / "cut")]) == 0
    assert 0 < rows_before < 2 * 399
    for suffix in (".tsv", ".bed", ".bedGraph", ".minus.bedGraph"):
        assert (tmp_path / f"cut{suffix}").read_bytes() == (tmp_path / f"whole{suffix}").read_bytes(), suffix
    assert not partial.exists()


def _accelerate(*arguments) -> subprocess.CompletedProcess:
    launcher = Path(sys.executable).parent / "accelerate"
    config = Path(__file__).resolve().parents[1] / "training" / "accelerate" / "cpu.yaml"
    command = [str(launcher), "launch", "--config_file", str(config), "-m", "chatnt.cli", *arguments]
    return subprocess.run(command, env=_environment(), capture_output=True, text=True, timeout=600)


def test_two_processes_under_accelerate_launch_write_what_one_writes(tiny_model, tmp_path):
    arguments = [*SCAN_ARGUMENTS[:6], f"{CHROM}:0-4000", *SCAN_ARGUMENTS[7:], "--model", tiny_model]
    assert main([*arguments, "--out", str(tmp_path / "one")]) == 0
    result = _accelerate(*arguments, "--out", str(tmp_path / "two"))
    assert result.returncode == 0, result.stderr[-3000:]
    for suffix in (".tsv", ".bed", ".bedGraph", ".minus.bedGraph"):
        assert (tmp_path / f"two{suffix}").read_bytes() == (tmp_path / f"one{suffix}").read_bytes(), suffix
    assert result.stdout.count("windows: 78") == 1 and "by 2 processes" in result.stdout  # the main process reports
    # predict too: each process takes its share of records, merged in FASTA order.
    fasta = write_fasta(tmp_path / "records.fa", {f"rec{i}": random_dna(40 + i, seed=i) for i in range(11)})
    question = ["--fasta", fasta, "--question", QUESTION, "--batch-size", "2", "--max-new-tokens", "3", "--no-progress",
                "--model", tiny_model]
    assert main(["predict", *question, "--out", str(tmp_path / "predict-one.tsv")]) == 0
    result = _accelerate("predict", *question, "--out", str(tmp_path / "predict-two.tsv"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "predict-two.tsv").read_bytes() == (tmp_path / "predict-one.tsv").read_bytes()
    assert "by 2 processes" in result.stdout


def write_vcf(path, lines) -> str:
    header = ["##fileformat=VCFv4.2", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    path.write_text("\n".join(header + ["\t".join(map(str, line)) + "\t.\tPASS\t." for line in lines]) + "\n")
    return str(path)


def test_variant_windows_apply_snvs_and_indels_around_the_ref(ecoli, tmp_path):
    vcf = write_vcf(tmp_path / "v.vcf", [
        (CHROM, 101, "a", ecoli[100], "T" if ecoli[100] != "T" else "G"),
        (CHROM, 5001, "del", ecoli[5000:5004], ecoli[5000]),
        (CHROM, 9001, "ins,two", ecoli[9000], f"{ecoli[9000]}GATTACA,{ecoli[9000]}CC"),
        (CHROM, len(ecoli), "end", ecoli[-1], "N"),
    ])
    variants = read_vcf(vcf, max_indel=10)
    assert [v.id for v in variants] == ["a", "del", "ins,two", "ins,two", "end"]  # one variant per ALT allele
    reference = Reference(ECOLI, {CHROM})
    for variant in variants:
        start, ref_window, alt_window = variant_windows(variant, reference, 200)
        assert ref_window == ecoli[start:start + 200] and 0 <= start <= variant.pos - 1
        offset = variant.pos - 1 - start
        assert ref_window[offset:offset + len(variant.ref)] == variant.ref
        assert alt_window == ref_window[:offset] + variant.alt + ref_window[offset + len(variant.ref):]
    assert variant_windows(variants[1], reference, 200)[0] == 5000 - 98  # centred on the REF allele
    assert variant_windows(variants[-1], reference, 200)[0] == len(ecoli) - 200  # moved inward at the end


def test_variants_are_scored_and_ref_mismatches_refused_by_name(ecoli, tiny_model, tmp_path, capsys):
    good = [(CHROM, 1001, "v1", ecoli[1000], "A" if ecoli[1000] != "A" else "C"), (CHROM, 2001, "v2", ecoli[2000:2003], ecoli[2000])]
    summary = score_variants(write_vcf(tmp_path / "good.vcf", good), ECOLI, QUESTION, tmp_path / "scores.tsv",
                             model=tiny_model, window=200, max_indel=10, progress=False)
    rows = [line.split("\t") for line in (tmp_path / "scores.tsv").read_text().splitlines()]
    assert rows[0] == ["chrom", "pos", "id", "ref", "alt", "window_start", "p_ref", "p_alt", "delta", "answer_ref", "answer_alt"]
    assert [row[2] for row in rows[1:]] == ["v1", "v2"] and summary.variants == 2
    for row in rows[1:]:
        assert float(row[8]) == pytest.approx(float(row[7]) - float(row[6]), abs=2e-4)
    wrong_base = "A" if ecoli[3000] != "A" else "C"
    bad = write_vcf(tmp_path / "bad.vcf", [*good, (CHROM, 3001, "x", wrong_base, "G"), (CHROM, 4001, "y", "TTTTT", "T")])
    code = main(["variants", "--vcf", bad, "--reference", str(ECOLI), "--question", QUESTION, "--model", tiny_model,
                 "--window", "200", "--max-indel", "10", "--out", str(tmp_path / "bad.tsv")])
    error = capsys.readouterr().err
    assert code == 2 and "2 variant(s) have a REF that does not match the reference" in error
    assert f"{CHROM}:3001 {wrong_base}>G (reference: {ecoli[3000]})" in error and f"{CHROM}:4001 TTTTT>T" in error
    assert not list(tmp_path.glob("bad.tsv*"))
    with pytest.raises(ValueError, match=r"is not a SNV or short indel written in bases"):
        read_vcf(write_vcf(tmp_path / "sv.vcf", [(CHROM, 10, "sv", "A", "<DEL>")]), max_indel=10)


def test_predict_keeps_its_single_process_files(tiny_model, tmp_path):
    fasta = write_fasta(tmp_path / "r.fa", {f"r{i}": random_dna(50, seed=i) for i in range(3)})
    predict(fasta, QUESTION, tmp_path / "p.tsv", model=tiny_model, batch_size=2, max_new_tokens=3, progress=False)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["p.tsv", "r.fa"]
