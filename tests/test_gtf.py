import numpy as np
import pytest

from rnatracker_cli.errors import InputError
from rnatracker_cli.io.gtf import longest_coding_isoforms, read_gtf, transcript_blocks


def _naive_positions(exons, strand):
    """Genomic position of every transcript nucleotide, 5'→3'."""
    pos = [p for s, e in exons for p in range(s, e)]
    return pos if strand == "+" else pos[::-1]


@pytest.mark.parametrize("strand", ["+", "-"])
def test_transcript_blocks_match_naive_mapping(strand):
    rng = np.random.default_rng(1)
    for _ in range(200):
        n = int(rng.integers(1, 5))
        bounds = np.sort(rng.choice(np.arange(0, 400), size=2 * n, replace=False))
        exons = [(int(bounds[2 * k]), int(bounds[2 * k + 1])) for k in range(n)]
        naive = _naive_positions(exons, strand)
        a = int(rng.integers(0, len(naive)))
        b = int(rng.integers(a + 1, len(naive) + 1))
        blocks = transcript_blocks(exons, strand, a, b)
        covered = sorted(p for s, e in blocks for p in range(s, e))
        assert covered == sorted(naive[a:b])
        assert sum(e - s for s, e in blocks) == b - a
        assert blocks == sorted(blocks)


def test_longest_protein_coding_isoform_is_chosen(sim_dir, sim_data):
    models = read_gtf(sim_dir / "annotation.gtf")
    chosen = longest_coding_isoforms(models)
    assert [m.transcript_id for m in chosen] == [f"{t}.1" for t in sim_data.ids]
    # the retained-intron isoforms are longer but not protein-coding
    longer = [m for m in models.values() if m.biotype == "retained_intron"]
    assert longer and all(m.length > models[m.transcript_id[:-2] + ".1"].length for m in longer)


def test_gtf_without_protein_coding_or_exons(tmp_path):
    path = tmp_path / "x.gtf"
    path.write_text('chr1\tsrc\tgene\t1\t100\t.\t+\t.\tgene_id "g1";\n')
    with pytest.raises(InputError, match="no transcripts with exon lines"):
        read_gtf(path)
    path.write_text('chr1\tsrc\texon\t1\t100\t.\t+\t.\tgene_id "g1"; transcript_id "t1"; transcript_biotype "lncRNA";\n')
    assert longest_coding_isoforms(read_gtf(path)) == []
