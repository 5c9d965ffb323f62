import os

os.environ.setdefault("TQDM_DISABLE", "1")  # backtesting.py's progress bars
