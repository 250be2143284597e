"""ProtST Space: zero-shot protein classification, text-to-protein search and, given a reference, protein function
annotation in the browser (Gradio).

    python app.py [--model MODEL] [--index INDEX_DIR] [--reference REFERENCE] [--max-proteins 50] [--port 7860]

MODEL is a ProtST folder or Hub id (default: $PROTST_SPACE_MODEL, else the main job's `outputs/pretrain/best`).
The search tab runs over a small FAISS index of the Swiss-Prot sample shipped with protst-hf (about 200 reviewed
proteins with their names): built on first start under INDEX_DIR (default `space_index/` beside this file) with
`protst_hf.embedding.shards.embed_file` + `build_index`, then reused; an index built with another model is refused and
rebuilt. On a Hub Space, commit `space_index/` with the app so that startup needs no embedding.

With `--reference` (a folder of `protst reference build`, embedded with MODEL; default $PROTST_SPACE_REFERENCE) an
"Annotate" tab annotates pasted or uploaded FASTA (plain or gzipped; at most `--max-proteins` proteins a run) as
`protst annotate` does: a table per field, and downloads of the TSVs, the GAF files (GO fields) and the HTML report.

The tabs are API endpoints: `gradio_client.Client(URL).predict(sequence, labels, template, api_name="/classify")`,
`.predict(query, top_k, api_name="/search")` and `.predict(fasta, None, fields, confident, leaves,
api_name="/annotate")`.
"""

import argparse
import os
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_MODEL = HERE.parents[1] / "outputs" / "pretrain" / "best"
EXAMPLE = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLGQHDFSAGEGLYTHMKAL"
LOCATIONS = ("Nucleus, Cytoplasm, Secreted, Cell membrane, Mitochondrion, Endoplasmic reticulum, Golgi apparatus, "
             "Lysosome, Peroxisome, Plastid")


def build_space_index(model, processor, model_name: str, folder: Path):
    """The FAISS index of the built-in Swiss-Prot sample for `model` (built once, then loaded), and id -> name."""
    from protst_hf import ProteinIndex
    from protst_hf.embedding.shards import build_index, embed_file
    from protst_hf.models.protst.index_protst import MismatchedModelError, model_metadata
    from protst_hf.resources import demo_rows

    rows = demo_rows()
    names = {row["accession"]: row["prot_name"] for row in rows}
    if (folder / "index_metadata.json").exists():
        index = ProteinIndex.load(folder)
        try:
            index.check_queries(model_metadata(model, "text"))
            return index, names
        except MismatchedModelError:
            print(f"{folder} was built with another model: rebuilding it")
    with tempfile.TemporaryDirectory() as work:
        fasta = Path(work) / "sample.fasta"
        fasta.write_text("".join(f">{row['accession']}\n{row['sequence']}\n" for row in rows))
        embed_file(fasta, model, processor, Path(work) / "embeddings", progress=False)
        index = build_index(Path(work) / "embeddings", kind="flat")
    index.metadata["model"] = model_name
    index.save(folder)
    return index, names


def annotation_tab(gr, reference_path: str, model, processor, max_proteins: int) -> None:
    """The Annotate tab: FASTA in (pasted or uploaded), per-field tables and the files of `protst annotate` out."""
    from protst_hf.annotation import AnnotationReference, AnnotationReport, annotate_to_files
    from protst_hf.models.protst.fasta_protst import open_text, read_fasta
    from protst_hf.models.protst.folder_protst import model_display_name

    reference = AnnotationReference.load(reference_path)
    reference.check_model(model)
    fields = reference.field_names
    go_fields = [f for f in fields if not reference.field(f)[0].single_label]
    header = {"reference": model_display_name(reference_path), "model": model_display_name(
        reference.manifest["model"]), "ontology": reference.ontology_version}

    def read(text: str, upload) -> list[tuple[str, str]]:
        if upload:
            with open_text(upload) as lines:
                text = "".join(lines)
        text = (text or "").strip()
        if not text:
            raise ValueError("the input holds no protein: paste FASTA or a sequence, or upload a FASTA file")
        records, problems = read_fasta(text if text.startswith(">") else f">query\n{text}")
        if problems:
            raise ValueError(f"{len(problems)} record(s) refused: " + "; ".join(problems[:3]))
        if not records:
            raise ValueError("the input holds no protein")
        if len(records) > max_proteins:
            raise ValueError(f"at most {max_proteins} proteins a run; this input holds {len(records)}")
        return records

    def annotate(text: str, upload, chosen: list[str], confident: bool, leaves: bool):
        try:
            records = read(text, upload)
            chosen = [f for f in fields if f in (chosen or [])]
            if not chosen:
                raise ValueError("choose at least one field")
            thresholds = {f: reference.fitted_threshold(f) for f in chosen if confident and f in go_fields}
            out = Path(tempfile.mkdtemp(prefix="protst-annotate-"))
            report = AnnotationReport(out / "report.html", header)
            tables = {f: out / f"{f}.tsv" for f in chosen}
            gafs = {f: out / f"{f}.gaf" for f in chosen if f in go_fields}
            annotate_to_files(reference, model, processor, records, chosen, tables, gafs=gafs, thresholds=thresholds,
                              report=report, header=header, leaves=leaves)
            report.write()
        except ValueError as err:  # invalid residues, too many proteins, empty input: shown in the page
            raise gr.Error(str(err)) from err
        downloads = [str(p) for p in (*tables.values(), *gafs.values(), out / "report.html")]
        return (f"{len(records)} protein(s) annotated", *(report.table(f) if f in chosen else [] for f in fields),
                downloads)

    with gr.Tab("Annotate"):
        gr.Markdown(f"Annotate proteins against the reference `{header['reference']}` "
                    f"({reference.manifest['proteins']} proteins; fields: {', '.join(fields)}): homology (MMseqs2), "
                    "embedding neighbours, zero-shot text and label frequencies, fused. "
                    f"**At most {max_proteins} proteins a run.**")
        text = gr.Textbox(label="FASTA (or one sequence)", lines=6, value=f">example\n{EXAMPLE}",
                          elem_id="annotate-fasta")
        upload = gr.File(label="or upload a FASTA file (plain or gzipped)", type="filepath")
        chosen = gr.CheckboxGroup(fields, value=fields, label="Fields")
        confident = gr.Checkbox(value=bool(go_fields), label="GO fields: only labels above the reference's "
                                "Fmax-optimal threshold (--threshold auto)")
        leaves = gr.Checkbox(value=bool(go_fields), label="only the most specific labels: none that is an ancestor "
                             "of another kept label (--leaves)")
        status = gr.Markdown(elem_id="annotate-status")
        headers = ["protein", "best hit", "identity %", "top labels (name (id) score)"]
        outputs = [gr.Dataframe(headers=headers, label=field, wrap=True) for field in fields]
        files = gr.File(label="Downloads: TSV, GAF and the HTML report", file_count="multiple")
        button = gr.Button("Annotate", variant="primary", elem_id="annotate-button")
        button.click(annotate, [text, upload, chosen, confident, leaves], [status, *outputs, files],
                     api_name="annotate")


def build_app(model_name: str, index_dir: Path, reference: str | None = None, max_proteins: int = 50):
    import gradio as gr
    from transformers import AutoModel, AutoProcessor, pipeline

    import protst_hf

    protst_hf.register()  # the Auto classes and pipelines of the installed package, no trust_remote_code

    model = AutoModel.from_pretrained(model_name).eval()
    processor = AutoProcessor.from_pretrained(model_name)
    classify_pipe = pipeline("zero-shot-protein-classification", model=model, processor=processor)
    retrieve_pipe = pipeline("protein-text-retrieval", model=model, processor=processor)
    index, names = build_space_index(model, processor, model_name, index_dir)

    def classify(sequence: str, labels: str, template: str) -> dict:
        candidates = [label.strip() for label in labels.replace("\n", ",").split(",") if label.strip()]
        if not candidates:
            raise gr.Error("give at least one label")
        try:
            result = classify_pipe(sequence, candidate_labels=candidates, hypothesis_template=template or None)
        except ValueError as err:  # invalid residues, empty sequence: shown to the user, not a stack trace
            raise gr.Error(str(err)) from err
        return dict(zip(result["labels"], result["scores"]))

    def search(query: str, top_k: float) -> list[list]:
        if not query.strip():
            raise gr.Error("type a description, e.g. 'FUNCTION: Binds ATP.'")
        hits = retrieve_pipe(query, index=index, top_k=int(top_k))
        return [[hit["id"], round(hit["score"], 4), names.get(hit["id"], "")] for hit in hits]

    with gr.Blocks(title="ProtST") as app:
        gr.Markdown(f"# ProtST\nModel `{model_name}`: zero-shot classification and text-to-protein search over "
                    f"{len(index)} Swiss-Prot proteins" + (", and annotation." if reference else "."))
        with gr.Tab("Zero-shot classification"):
            sequence = gr.Textbox(label="Protein sequence", lines=4, value=EXAMPLE)
            labels = gr.Textbox(label="Candidate labels (comma-separated)", value=LOCATIONS)
            template = gr.Textbox(label="Template", value="SUBCELLULAR LOCATION: {}.")
            scores = gr.Label(label="Scores", num_top_classes=10)
            gr.Button("Classify").click(classify, [sequence, labels, template], scores, api_name="classify")
        with gr.Tab("Text to protein search"):
            query = gr.Textbox(label="Description", value="FUNCTION: Binds ATP.")
            top_k = gr.Slider(1, 50, value=10, step=1, label="Top k")
            hits = gr.Dataframe(headers=["accession", "cosine", "protein names"], label="Hits")
            gr.Button("Search").click(search, [query, top_k], hits, api_name="search")
        if reference:
            annotation_tab(gr, reference, model, processor, max_proteins)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=os.environ.get("PROTST_SPACE_MODEL", str(DEFAULT_MODEL)))
    parser.add_argument("--index", default=str(HERE / "space_index"))
    parser.add_argument("--reference", default=os.environ.get("PROTST_SPACE_REFERENCE"),
                        help="an annotation reference embedded with MODEL: adds the Annotate tab")
    parser.add_argument("--max-proteins", type=int, default=50, help="proteins a run of the Annotate tab, at most")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    args = parser.parse_args()
    if not Path(args.model).exists() and "/" not in args.model:
        raise SystemExit(f"no model at {args.model}: run `bash scripts/run.sh` (the main job) or pass --model")
    build_app(args.model, Path(args.index), args.reference, args.max_proteins).launch(
        server_name=args.host, server_port=args.port, allowed_paths=[tempfile.gettempdir()])


if __name__ == "__main__":
    main()
