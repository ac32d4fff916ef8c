"""Detections from the torch model and their mAP on a test split, with the project's metrics."""

from face_detector_ros.detection.nms import class_aware_nms
from face_detector_ros.evaluation import detection_metrics as metrics
from face_detector_ros.training.data import letterbox, read_image, to_tensor
from face_detector_ros.training.matching import decode
import numpy as np
import torch

# SSD-Caffe DetectionOutput settings of the article's deploy model.
CONFIDENCE_THRESHOLD = 0.01
NMS_IOU = 0.45
TOP_K = 400
KEEP_TOP_K = 200


@torch.no_grad()
def predict(model, images, priors):
    """
    Return one (boxes, scores, class_ids) per image of a batch, as DetectionOutput would.

    Boxes are corner form normalised to the input; class ids are 0-based over the named classes
    (background excluded).
    """
    offsets, logits = model(images)
    boxes = decode(offsets, priors).cpu().numpy()
    probabilities = torch.softmax(logits, -1)[..., 1:].cpu().numpy()
    results = []
    for image_boxes, image_scores in zip(boxes, probabilities):
        prior_index, class_ids = np.nonzero(image_scores > CONFIDENCE_THRESHOLD)
        scores = image_scores[prior_index, class_ids]
        best = np.argsort(-scores, kind='stable')[:TOP_K]
        prior_index, class_ids, scores = prior_index[best], class_ids[best], scores[best]
        keep = class_aware_nms(image_boxes[prior_index], scores, class_ids, NMS_IOU, KEEP_TOP_K)
        results.append((image_boxes[prior_index[keep]], scores[keep], class_ids[keep]))
    return results


def evaluate_map(model, samples, config, device, batch_size=16):
    """Return the VOC all-point AP at IoU 0.5 (mean over classes) of the model on `samples`."""
    was_training = model.training
    model.eval()
    priors = torch.from_numpy(config.priors()).to(device)
    truth, predictions = {}, {}
    size = config.input_size
    for start in range(0, len(samples), batch_size):
        batch = samples[start:start + batch_size]
        tensors = []
        for index, sample in enumerate(batch, start):
            image, scale, dx, dy = letterbox(read_image(sample.image_path), size)
            tensors.append(to_tensor(image))
            truth[index] = metrics.ImageTruth(sample.boxes * scale + [dx, dy, dx, dy],
                                              sample.labels, sample.difficult)
        results = predict(model, torch.stack(tensors).to(device), priors)
        for index, (boxes, scores, class_ids) in enumerate(results, start):
            labels = [config.class_names[class_id] for class_id in class_ids]
            predictions[index] = metrics.ImagePredictions(boxes * size, scores, labels)
    model.train(was_training)
    evaluation = metrics.evaluate(truth, predictions, max_detections=KEEP_TOP_K,
                                  labels=config.class_names)
    return evaluation.ap or 0.0
