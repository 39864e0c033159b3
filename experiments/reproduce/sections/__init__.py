"""RESULTS.md's sections, one module each, in the page's order: table1 (with accelerator's rows),
sweep, fashion, ablations, quickstart, samples and toy1d (the Figures section), provenance.

Each `section(page)` returns the section's markdown lines and, on `page` (the report.Report being
rendered), adds its figures and the results it holds or lacks; common holds what they share.
"""
