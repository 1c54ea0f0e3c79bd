"""Reports: figures, disclosure control and rendering (Quarto, or a fallback without it)."""
