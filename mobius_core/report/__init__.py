"""Reports: the typed record (`record`), reading runs back (`runs`), tables, claims, plots,
the summary, `compare` and `baseline`.

May import: pandas, matplotlib, numpy, `mobius_core.measure.results` and `.stats` (both
torch-free), `mobius_core.errors` and `mobius_core.outputs`. Never torch, models, training
or run: reports and the CI gate run where torch cannot be imported.
"""
