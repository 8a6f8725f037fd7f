"""Present: what the pages show, as pure functions of data: figures, live charts, GIFs, verdicts,
progress lines, the Train page's setup as widget values."""
