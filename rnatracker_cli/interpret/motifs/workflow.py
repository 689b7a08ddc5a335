"""`rnatracker motifs` as a function: model + sequences (+ database, zipcodes) → output folder.

Outputs (see docs/formats.md): ``filters.meme``, ``tomtom.tsv``, ``influence.tsv``,
``logos/FILTER.png``, ``report.html`` and, with zipcodes, ``enrichment.tsv``. They are
written into a temporary folder beside ``out`` that is renamed into place at the end, so a
failed run leaves nothing behind and an existing folder is replaced only with ``force``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnatracker_cli.errors import CacheError, InputError, OutputExistsError, RNATrackerError
from rnatracker_cli.interpret.motifs.enrichment import (check_zipcodes, enrichment_table, format_enrichment,
                                                        read_zipcodes)
from rnatracker_cli.interpret.motifs.filters import first_layer, filter_sites
from rnatracker_cli.interpret.motifs.influence import filter_influence
from rnatracker_cli.interpret.motifs.matching import format_tomtom, run_tomtom, tomtom_table
from rnatracker_cli.interpret.motifs.report import ReportRow, logo_png, render_html
from rnatracker_cli.io.meme import MemeMotif, format_meme, read_meme

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def resolve_model(spec: str | os.PathLike | None) -> str:
    """The checkpoint a ``--model`` value names: a ``model.pt``, a run directory, a built-in
    model's name, or (None) the built-in default (:func:`rnatracker_cli.model.checkpoint.resolve_model`)."""
    from rnatracker_cli.model.checkpoint import resolve_model as resolve

    return str(resolve(spec))


def load_database(db: str | os.PathLike | None) -> tuple[list[MemeMotif], str]:
    """Motifs of the MEME file ``db`` and a label for reports; ``db`` None is an error (no
    database ships with the package: the user names one, e.g. the RNAcompete motifs)."""
    if db is None:
        raise RNATrackerError("--db is required: a MEME motif database to match the filters against (e.g. the "
                              "RNAcompete RBP motifs of Ray et al. 2013, Ray2013_rbp_Homo_sapiens.meme of the "
                              "MEME suite's motif databases)")
    return read_meme(db), str(db)


@dataclass
class MotifsSummary:
    """What a run did (for the CLI's summary)."""

    out: Path
    transcripts: int
    filters: int
    motifs: int
    matched: int
    database: str
    database_motifs: int
    enriched: int | None
    seconds: float
    notes: list[str] = field(default_factory=list)


@dataclass
class _Inputs:
    ids: list[str]
    sequences: list[np.ndarray]
    structures: list[np.ndarray] | None
    nt_lengths: np.ndarray


def _is_cache(path: str) -> bool:
    if path == "-" or not Path(path).is_file():
        return False
    with open(path, "rb") as handle:
        return handle.read(8) == _HDF5_MAGIC


def _read_inputs(path: str, needs_structure: bool, training: dict) -> _Inputs:
    if _is_cache(path):
        from rnatracker_cli.io.cache import Cache

        with Cache(path) as cache:
            if len(cache) == 0:
                raise CacheError(f"{path}: the cache holds no transcripts")
            cache.load()
            sequences = [cache.sequence(i) for i in range(len(cache))]
            structures = None
            if needs_structure:
                if not cache.has_structure:
                    raise CacheError(f"this model reads structure: run `rnatracker fold {path}` first")
                structures = cache.structures(range(len(cache)))
            return _Inputs([str(i) for i in cache.ids], sequences, structures,
                           np.asarray(cache.full_lengths, dtype=np.int64))
    from rnatracker_cli.io.fasta import read_fasta

    records = list(read_fasta(path))
    sequences = [r.codes for r in records]
    structures = None
    if needs_structure:
        # Fold on the fly with the settings of the training cache, as `predict` does.
        from rnatracker_cli.structure import fold_sequence

        params = training.get("structure_params") or {}
        fold = functools.partial(fold_sequence, **{k: params[k] for k in ("window", "span", "cutoff") if k in params})
        structures = [fold(s) for s in sequences]
    return _Inputs([r.id for r in records], sequences, structures,
                   np.array([len(s) for s in sequences], dtype=np.int64))


def _check_out(out: Path, force: bool) -> None:
    if out.exists() and not force:
        raise OutputExistsError(f"{out} exists; use --force to overwrite it")
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} exists and is not a folder")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"output folder {parent} does not exist")


@contextlib.contextmanager
def _atomic_dir(out: Path, force: bool) -> Iterator[Path]:
    """A temporary folder beside ``out``, renamed to ``out`` when the block succeeds."""
    _check_out(out, force)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent if str(out.parent) else "."))
    try:
        # mkdtemp makes the folder private (0700); the result gets the usual permissions.
        mask = os.umask(0)
        os.umask(mask)
        tmp.chmod(0o777 & ~mask)
        yield tmp
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=tmp.parent))
            os.replace(out, old / out.name)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _filter_ids(n: int) -> list[str]:
    digits = max(2, len(str(n)))
    return [f"filter{i + 1:0{digits}d}" for i in range(n)]


def _influence_table(ids: list[str], sites: np.ndarray, kl: np.ndarray, delta: np.ndarray,
                     fractions: list[str]) -> str:
    order = np.argsort(-kl, kind="stable")
    out = ["\t".join(["filter", "sites", "kl_mean", *(f"delta_{f}" for f in fractions)]) + "\n"]
    for i in order:
        out.append("\t".join([ids[i], str(int(sites[i])), f"{kl[i]:.6g}", *(f"{d:.6g}" for d in delta[i])]) + "\n")
    return "".join(out)


def _one_network(model, config: dict):
    """``(network, its config, note)``: an ensemble's first member (filters are a network's
    own; the members' differ, and zeroing one member's filter would change 1/K of the mean),
    otherwise the model itself with no note."""
    from rnatracker_cli.model.ensemble import Ensemble

    if not isinstance(model, Ensemble):
        return model, config, None
    note = (f"ensemble of {len(model.members)} members: the filters and their influence are member 1's "
            "(one network; the other members learned other filters)")
    return model.members[0], {**config, "replicates": 1}, note


def run_motifs(
    sequences: str,
    model: str | None,
    out: str | os.PathLike,
    db: str | None = None,
    zipcodes: str | None = None,
    threshold: float = 0.5,
    min_sites: int = 10,
    max_q: float = 0.5,
    fimo_p: float = 1e-4,
    logos: bool = True,
    device: str = "auto",
    force: bool = False,
    on_step: Callable[[str], None] | None = None,
) -> MotifsSummary:
    """Run every step of `rnatracker motifs` (see the package docs) and write ``out``.

    sequences: a cache (``CACHE.h5``) or a FASTA; model: a ``model.pt`` or run directory;
    db: MEME motif database (required); zipcodes: a `scan-zipcodes`
    BED6+4 for the enrichment test; threshold: share of each filter's largest activation a
    site must exceed; min_sites: filters with fewer sites are left out of ``filters.meme``;
    max_q: Tomtom q-value cut-off of ``tomtom.tsv`` and of the report's best match; fimo_p:
    FIMO p-value threshold for database motif sites; logos: write ``logos/`` and embed them.
    """
    from rnatracker_cli.inference import Predictor
    from rnatracker_cli.model.checkpoint import load_model
    from rnatracker_cli.utils.device import resolve_device

    step = on_step or (lambda message: None)
    started = time.perf_counter()
    model_path = resolve_model(model)
    if min_sites < 1:
        raise RNATrackerError("--min-sites must be at least 1")
    if not 0 < max_q <= 1:
        raise RNATrackerError("--max-q must be in (0, 1]")
    if not 0 < threshold <= 1:
        raise RNATrackerError("--threshold must be in (0, 1] (a fraction of each filter's largest activation)")
    if not 0 < fimo_p < 1:
        raise RNATrackerError("--fimo-p must be in (0, 1)")
    out = Path(out)
    _check_out(out, force)
    database, db_label = load_database(db)
    zips = read_zipcodes(zipcodes) if zipcodes is not None else None
    dev = resolve_device(device)
    loaded = load_model(model_path, dev)
    model, config, ensemble_note = _one_network(loaded.model, loaded.config)
    layer = first_layer(model, config)
    predictor = Predictor(model, config, dev)
    inputs = _read_inputs(str(sequences), predictor.encoding.needs_structure, loaded.training)
    if zips is not None:
        check_zipcodes(zips, {i: len(s) for i, s in zip(inputs.ids, inputs.sequences)})
    notes = [layer.note] + ([ensemble_note] if ensemble_note else [])
    n = len(inputs.sequences)

    step(f"filter sites over {n} transcripts")
    max_len = loaded.config.get("max_len")
    seen = [s[len(s) - max_len:] if max_len and len(s) > max_len else s for s in inputs.sequences]
    sites = filter_sites(seen, layer.weight.to(dev), layer.bias.to(dev), threshold)
    ids = _filter_ids(layer.n_filters)
    kept = [i for i in range(layer.n_filters) if sites.n_sites[i] >= min_sites]
    motifs = [MemeMotif(ids[i], "", sites.pfm(i), int(sites.n_sites[i])) for i in kept]
    if len(kept) < layer.n_filters:
        notes.append(f"{layer.n_filters - len(kept)} of {layer.n_filters} filters had fewer than {min_sites} sites "
                     "and are not in filters.meme")

    step(f"Tomtom: {len(motifs)} filter motifs × {len(database)} database motifs")
    matches = run_tomtom(motifs, database)
    if matches.note:
        notes.append(matches.note)
    tomtom = tomtom_table(matches, motifs, database, max_q)

    step(f"influence: zeroing {layer.n_filters} filters one at a time")
    influence = filter_influence(predictor, layer, inputs.sequences, inputs.structures, inputs.nt_lengths)

    enrichment = None
    if zips is not None:
        step(f"enrichment: {len(database)} database motifs in {len(zips)} zipcodes")
        enrichment = enrichment_table(database, dict(zip(inputs.ids, inputs.sequences)), zips, fimo_p)

    step("writing outputs")
    with _atomic_dir(out, force) as tmp:
        (tmp / "filters.meme").write_text(format_meme(motifs), newline="\n")
        (tmp / "tomtom.tsv").write_text(format_tomtom(tomtom), newline="\n")
        table = _influence_table(ids, sites.n_sites, influence.kl_mean, influence.delta_mean, loaded.fractions)
        (tmp / "influence.tsv").write_text(table, newline="\n")
        if enrichment is not None:
            (tmp / "enrichment.tsv").write_text(format_enrichment(enrichment), newline="\n")
        rows = []
        match_logos: dict[int, bytes] = {}
        if logos:
            (tmp / "logos").mkdir()
        for k in sorted(range(len(kept)), key=lambda k: -influence.kl_mean[kept[k]]):
            i = kept[k]
            logo = None
            if logos:
                logo = logo_png(motifs[k].pwm, f"{ids[i]} ({sites.n_sites[i]} sites)")
                (tmp / "logos" / f"{ids[i]}.png").write_bytes(logo)
            best = matches.best(k) if len(database) else -1
            matched = best >= 0 and matches.q_values[k, best] <= max_q
            if matched and logos and best not in match_logos:
                match_logos[best] = logo_png(database[best].pwm, database[best].label)
            rows.append(ReportRow(ids[i], int(sites.n_sites[i]), float(influence.kl_mean[i]),
                                  influence.delta_mean[i].tolist(), logo,
                                  database[best].label if matched else "",
                                  float(matches.q_values[k, best]) if matched else float("nan"),
                                  match_logos.get(best) if matched else None))
        enriched_rows = []
        if enrichment is not None:
            for r in enrichment.head(15).itertuples(index=False):
                enriched_rows.append((f"{r.motif_id} {r.motif_name}".strip(), r.fraction, r.direction,
                                      f"{r.zipcodes_with_site}/{r.zipcodes}",
                                      f"{r.background_with_site}/{r.background_windows}", r.odds_ratio, r.p_value,
                                      r.q_value))
        header = {
            "model": str(loaded.path), "sequences": f"{sequences} ({n} transcripts)", "database":
            f"{db_label} ({len(database)} motifs)",
            "sites": f"activation > {threshold:g} × the filter's maximum over the data set; at least {min_sites} sites",
            "Tomtom": f"memelite, forward strand only, q ≤ {max_q:g}",
        }
        if zips is not None:
            header["zipcodes"] = f"{zipcodes} ({len(zips)} regions), FIMO p < {fimo_p:g}"
        (tmp / "report.html").write_text(render_html(rows, loaded.fractions, header, notes, enriched_rows),
                                         encoding="utf-8", newline="\n")
    matched = sum(1 for k in range(len(kept)) if len(database) and matches.q_values[k, matches.best(k)] < 0.05)
    enriched = None if enrichment is None else int((enrichment["q_value"] < 0.05).sum())
    return MotifsSummary(out, n, layer.n_filters, len(motifs), matched, db_label, len(database), enriched,
                         time.perf_counter() - started, notes)
