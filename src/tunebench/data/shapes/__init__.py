"""The Shapes world: synthetic scenes written in the file formats of the real benchmarks."""
