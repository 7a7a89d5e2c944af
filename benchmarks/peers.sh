#!/usr/bin/env bash
# Set up the peers that benchmarks/ time side by side with ours (never part of the product):
#  - R FastMix 0.2.5 from ../shared/peers into $HOME/.cache/fastmix-r (needs Debian's R packages);
#  - FlowKit in its own venv, $HOME/.cache/fastmix-studio/flowkit-venv (it pins pandas < 3).
# Then:  FLOWKIT_PYTHON=$HOME/.cache/fastmix-studio/flowkit-venv/bin/python python benchmarks/bench_gating.py
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS=../shared/peers
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq r-base-core r-cran-dplyr r-cran-robust r-cran-mclust >/dev/null
fi
mkdir -p "$HOME/.cache/fastmix-r"
R CMD INSTALL -l "$HOME/.cache/fastmix-r" "$PEERS/FastMix-0.2.5" >/dev/null
Rscript -e '.libPaths(c(file.path(Sys.getenv("HOME"), ".cache/fastmix-r"), .libPaths())); library(FastMix); cat("R FastMix", as.character(packageVersion("FastMix")), "ready\n")'
FK="$HOME/.cache/fastmix-studio/flowkit-venv"
[ -x "$FK/bin/python" ] || python3 -m venv "$FK"
"$FK/bin/python" -m pip install --quiet flowkit
"$FK/bin/python" -c 'import flowkit; print("FlowKit", flowkit.__version__, "ready")'
