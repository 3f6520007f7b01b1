"""Every table and figure of the study, drawn from result folders and tables on disk.

Nothing here recomputes a result: figures and tables read what the stages wrote, so the
``figures`` target can redraw all of them cheaply. Each figure has a ``build_*_figure(...)``
function returning a :class:`matplotlib.figure.Figure` (what the tests inspect) and a writer that
saves it with :func:`~mira.study.report.figures.save_figure`. Functions that need a modality's
display window take its resolved :class:`~mira.modalities.ModalityProfile` from the caller.

Modules
-------
``figures``             shared helpers: headless backend, atomic saving, display slice and window
``dataset_table``       per-label statistics of a dataset (CSV / Markdown)
``overview``            montage of a dataset's cases with label overlays and MRI sequences
``augmentation``        augmentation tables (summary, constraints, policy, GAN) and the GAN sample grid
``degradation``         degradation grading tables and the degradation grid
``restoration``         the trained-networks table
``restoration_tables``  restoration table with best-method marks, SR case study, collected tables
``grids``               the visual comparison grid (clean, degraded, every method, zoom, differences)
``evaluation_figures``  severity curves, box plots, strategy figure, Dice-change figure
``training_curves``     training curves of the restoration networks and of every network of the study
``findings``            the study's answers in plain words

Import the modules themselves (``from mira.study.report.grids import comparison_grid``): this
package imports nothing on its own, so a job pays only for the module it uses.
"""
