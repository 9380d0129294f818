"""Compare a tutorial run's outputs with PDAF's reference files: prints the maximum difference.

Usage: python scripts/compare_tutorial.py REFERENCE_DIR OUTPUT_DIR
Exits non-zero when a file is missing or the difference exceeds 1e-9.
"""

import sys
from pathlib import Path

from pdafpy.verify_tutorial import TOLERANCE, compare_folders

if __name__ == "__main__":
    ref, out = Path(sys.argv[1]), Path(sys.argv[2])
    diff, files = compare_folders(ref, out)
    print(f"{files} files compared with PDAF's reference in {ref}: max |difference| = {diff:.3e} "
          f"({'within' if diff <= TOLERANCE else 'ABOVE'} {TOLERANCE:g})")
    sys.exit(0 if diff <= TOLERANCE else 1)
