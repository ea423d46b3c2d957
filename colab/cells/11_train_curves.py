# Learning curves: training loss and validation centre error (fraction of the image diagonal).
history = read_history(RUN_DIR / "history.jsonl")
fig, (ax_loss, ax_error) = plt.subplots(1, 2, figsize=(10, 3.2))
for phase in dict.fromkeys(row["phase"] for row in history):
    phase_rows = [(i, row) for i, row in enumerate(history) if row["phase"] == phase]
    epochs = [i + 1 for i, _ in phase_rows]
    ax_loss.plot(epochs, [row.get("loss", np.nan) for _, row in phase_rows], "o-", label=phase)
    ax_error.plot(epochs, [row.get("val_center_error", np.nan) for _, row in phase_rows], "o-",
                  label=phase)
ax_loss.set(xlabel="epoch", ylabel="training loss")
ax_error.set(xlabel="epoch", ylabel="val centre error / diagonal")
ax_loss.legend()
plt.tight_layout()
plt.show()
