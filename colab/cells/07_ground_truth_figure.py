# A few training frames: the kept points (dots) and the ground-truth centre (cross).
train_rows = [r for r in rows if r["split"] == "train"][:4]
fig, axes = plt.subplots(1, len(train_rows), figsize=(4 * len(train_rows), 3.2), squeeze=False)
for ax, row in zip(axes[0], train_rows):
    ax.imshow(plt.imread(row["frame_abspath"]))
    points = np.asarray(row["points_frame"]).reshape(-1, 2)
    ax.scatter(points[:, 0], points[:, 1], s=6, c="cyan", alpha=0.6)
    ax.plot(*row["center_frame"], "r+", markersize=18, markeredgewidth=3)
    ax.set_title(f"{row['image_id']} ({row['source']})", fontsize=9)
    ax.axis("off")
plt.tight_layout()
plt.show()
