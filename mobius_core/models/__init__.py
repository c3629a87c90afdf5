"""The models: config, layers, the frozen spatial layers, motion modules, the 2D UNet and
the serial 3D-UNet (`unet`), Mobius (`mobius`), and one spec per variant (`variants`).

May import: torch. Nothing from training, measure, run or report.
"""
