//! oocr-report: figures (plotters, bundled font) and Markdown/HTML reports for oocr runs.
