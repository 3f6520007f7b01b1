"""The study layer: everything that knows about ``results/``, the config and Snakemake.

The library (:mod:`mira.synthesis`, :mod:`mira.augment`, :mod:`mira.degrade`, :mod:`mira.restore`,
:mod:`mira.metrics`, :mod:`mira.ingest`) works on arrays and :class:`~mira.modalities.ModalityProfile`
objects. This layer turns the validated config into a run:

* :mod:`mira.study.settings` -- one typed settings object per config section, modality profiles
  resolved once (defaults + ``profiles:`` overrides) and passed down;
* :mod:`mira.study.plan` -- every ``results/`` path and job list (no numeric imports: the only thing
  the Snakefile imports);
* :mod:`mira.study.jobs` -- one function per rule, ``job(inputs, outputs, settings)``;
* :mod:`mira.study.report` -- every table and figure.
"""
