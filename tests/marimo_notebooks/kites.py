import marimo

__generated_with = "0.25.2"
app = marimo.App()


@app.cell
def _():
    import marimo as mo

    import imagemagic

    replaced = []  # what each mo.output.replace showed, recorded and passed on
    _replace = mo.output.replace

    def _recording(value):
        replaced.append(value.text)
        _replace(value)

    mo.output.replace = _recording
    return imagemagic, replaced


@app.cell
def _(imagemagic):
    kite = imagemagic.generate("A red kite", size="1024x1024", output_format="png")
    kite
    return (kite,)


@app.cell
def _(imagemagic, kite):
    night = imagemagic.edit("Make it night", image=kite, size="1024x1024")
    night
    return


@app.cell
def _(imagemagic):
    grid = imagemagic.sweep("A {animal}", rows=[{"animal": "fox"}, {"animal": "owl"}], size="1024x1024")
    grid
    return


@app.cell
def _(imagemagic, replaced):
    replaced.clear()
    streamed = imagemagic.generate("A blue kite", size="1024x1024", stream=True, partial_images=2)
    return


@app.cell
def _(replaced):
    print("replaced:", len(replaced), ["(partial)" in shown for shown in replaced])
    return


if __name__ == "__main__":
    app.run()
