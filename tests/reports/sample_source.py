# %% [markdown]
# # Sample report for the renderer tests

# %% tags=["parameters"]
site = "all"
fail = False

# %%
import matplotlib.pyplot as plt
from IPython.display import Markdown, display

figure, axes = plt.subplots(figsize=(4, 3))
axes.bar(["before", "after"], [3, 5], color=["#E69F00", "#0072B2"])
display(figure)
plt.close(figure)

# %%
display(Markdown(f"Results for **{site}**."))

# %%
if fail:
    raise ValueError("deliberate failure for the test")
