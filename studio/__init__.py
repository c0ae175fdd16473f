"""The studio: draw, prompt, customize and edit in the browser (README "Studio").

A Gradio app over the same pipeline: every customization is an ordinary DVC experiment
(`dvc exp run` with the form's settings), so `dvc exp show` and the report remain the record.

    experiment.py   the form -> params overrides, validated by the pipeline's own params validation
    jobs.py         one experiment at a time: launch, progress, cancel (survives the browser closing)
    app.py          the Gradio interface
"""
