"""The one presentation layer: token shading and figures, the best explanation per neuron, the
confidence summary, Markdown tables and the Jinja templates that the terminal, HTML files, the web
app and Jupyter share. Modules are imported by name (`autointerp.present.tokens`, ...)."""
