from attention_center.inference.predictors import load_predictor
from attention_center.inference.overlay import overlay_image, weight_map_on_image

sample = Path(SAMPLE_IMAGE) if SAMPLE_IMAGE else Path(test_rows[0]["data_dir"]) / test_rows[0]["image_path"]
keras_prediction, = ac.predict_images([sample], load_predictor(MODEL_PATH), keep_images=True,
                                      keep_weight_maps=True)
tflite_center = ac.predict(sample, model=TFLITE_PATH)
if not keras_prediction.ok:
    raise RuntimeError(keras_prediction.error)
heat = (None if keras_prediction.weight_map is None
        else weight_map_on_image(keras_prediction.weight_map, keras_prediction.transform))
fig, (ax_keras, ax_tflite) = plt.subplots(1, 2, figsize=(11, 4))
ax_keras.imshow(overlay_image(keras_prediction.image, keras_prediction.center, heat))
ax_keras.set_title(f"Keras: ({keras_prediction.center[0]:.0f}, {keras_prediction.center[1]:.0f})")
ax_tflite.imshow(overlay_image(keras_prediction.image, tflite_center))
ax_tflite.set_title(f"int8 TFLite: ({tflite_center[0]:.0f}, {tflite_center[1]:.0f})")
for ax in (ax_keras, ax_tflite):
    ax.axis("off")
plt.suptitle(sample.name)
plt.tight_layout()
plt.show()
print("centre (x, y), original pixels: keras", np.round(keras_prediction.center, 1),
      "tflite", np.round(tflite_center, 1))
