"""
face-train-classifier: train the crop classifier behind a face detector (e.g. good / bad masks).

Crops every labelled box of a dataset (detection.classifier.square_crops, as the engine does),
trains a small CNN on them (17 MFLOPs a face at 64x64), keeps the epoch with the best balanced
accuracy on --test, and writes ONNX, OpenVINO IR and the card's `classifier:` section.
"""

import argparse
import csv
import io
import math
from pathlib import Path
import sys
import time

from face_detector_ros import files
from face_detector_ros.datasets.annotations import DatasetError
from face_detector_ros.detection.classifier import CLASSIFIER_DEFAULTS, square_crops
from face_detector_ros.tools import cli
from face_detector_ros.training.data import default_class_names, read_image, read_samples
import numpy as np
import torch
from torch import nn
from tqdm import tqdm
import yaml

LOG_FIELDS = ('epoch', 'loss', 'balanced_accuracy')


def parse_args(argv):
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog='face-train-classifier', description=__doc__)
    parser.add_argument('train', help='training set: VOC list, darknet list or YOLO folder')
    parser.add_argument('output', help='new folder for the model, its card section and log')
    parser.add_argument('--test', required=True, help='held-out set (same forms) that picks '
                        'the best epoch; its balanced accuracy is reported')
    parser.add_argument('--classes', help='comma-separated class names (default: the label '
                        'map or .names beside the training set, else its labels sorted)')
    parser.add_argument('--input-size', type=int, default=48, help='crop side in pixels (48)')
    parser.add_argument('--context', type=float, default=CLASSIFIER_DEFAULTS['context'],
                        help='crop side / box side (1.2: a little around the face)')
    parser.add_argument('--copies', type=int, default=3,
                        help='jittered, randomly mirrored crops per training box (3)')
    parser.add_argument('--epochs', type=int, default=12)
    parser.add_argument('--batch-size', type=int, default=128)
    parser.add_argument('--lr', type=float, default=3e-3,
                        help='AdamW peak learning rate (one cycle: warm-up, then cosine to 0)')
    parser.add_argument('--threads', type=int, default=1, help='torch CPU threads (1)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--overwrite', action='store_true', help='replace an existing OUTPUT')
    args = parser.parse_args(argv)
    for name in ('copies', 'epochs', 'threads'):
        if getattr(args, name) < 1:
            parser.error(f'--{name} must be positive')
    if args.batch_size < 2:
        parser.error('--batch-size must be at least 2 (BatchNorm needs it)')
    if not 8 <= args.input_size <= 512:
        parser.error(f'--input-size {args.input_size} is not in [8, 512]')
    if not 1.0 <= args.context <= 4.0:  # `not` catches nan
        parser.error(f'--context {args.context} is not in [1, 4]')
    if not 0.0 < args.lr <= 1.0:
        parser.error(f'--lr {args.lr} is not in (0, 1]')
    return args


def make_network(num_classes):
    """
    Return the classifier: six 3x3 conv-BN-ReLU blocks, average pool, dropout, linear.

    Strides 2, 2, 1, 2, 1, 2 and 16-32-32-64-64-96 channels: the two stride-1 blocks, not width,
    are what told bare from masked faces better on the face-mask validation photos.
    """
    def block(inputs, outputs, stride):
        return nn.Sequential(nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False),
                             nn.BatchNorm2d(outputs), nn.ReLU())
    return nn.Sequential(block(3, 16, 2), block(16, 32, 2), block(32, 32, 1), block(32, 64, 2),
                         block(64, 64, 1), block(64, 96, 2), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Dropout(0.1), nn.Linear(96, num_classes))


def box_crops(samples, classes, size, context, copies=1, rng=None):
    """Return (crops (N, size, size, 3) uint8 BGR, class indices (N,)) of every labelled box."""
    crops, targets = [], []
    for sample in tqdm(samples, desc='crops', unit='image', leave=False):
        keep = [index for index, label in enumerate(sample.labels) if label in classes]
        if not keep:
            continue
        image = read_image(sample.image_path)
        boxes = sample.boxes[keep]
        for _ in range(copies):
            cut = square_crops(image, boxes, size, context, jitter=rng)
            if rng is not None:
                mirrored = rng.random(len(cut)) < 0.5
                cut[mirrored] = cut[mirrored, :, ::-1]
            crops.append(cut)
            targets += [classes.index(sample.labels[index]) for index in keep]
    if not crops:
        raise DatasetError(f'no box of the classes {", ".join(classes)}')
    return np.concatenate(crops), np.array(targets)


def to_tensor(crops):
    """Return the network input of BGR uint8 crops: (N, 3, S, S), (pixel - 127.5) / 127.5."""
    mean, scale = CLASSIFIER_DEFAULTS['mean'][0], CLASSIFIER_DEFAULTS['scale'][0]
    return torch.from_numpy((crops.astype(np.float32) - mean) * scale).permute(0, 3, 1, 2)


def balanced_accuracy(network, inputs, targets, num_classes):
    """Return the mean over classes of the fraction of each class's crops classified right."""
    network.eval()
    with torch.no_grad():
        predicted = torch.cat([network(inputs[i:i + 512]).argmax(1)
                               for i in range(0, len(inputs), 512)]).numpy()
    recalls = [np.mean(predicted[targets == k] == k) for k in range(num_classes)
               if np.any(targets == k)]
    return float(np.mean(recalls))


def export(network, size, path):
    """Write the network with a softmax as ONNX (any batch size), then as OpenVINO IR FP32."""
    import openvino as ov
    model = nn.Sequential(network, nn.Softmax(dim=1)).eval()
    onnx_path = path.with_suffix('.onnx')
    torch.onnx.export(model, torch.zeros(1, 3, size, size), str(onnx_path), dynamo=False,
                      input_names=['crops'], output_names=['probabilities'],
                      dynamic_axes={'crops': {0: 'batch'}, 'probabilities': {0: 'batch'}})
    ov.save_model(ov.convert_model(onnx_path), path, compress_to_fp16=False)


@cli.console_main
def main(argv=None):
    """Train, pick the best epoch on --test, export; nothing is written on failure."""
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    try:
        train_samples, test_samples = read_samples(args.train), read_samples(args.test)
        classes = (args.classes.split(',') if args.classes
                   else default_class_names(args.train, train_samples))
        if len(classes) < 2:
            raise DatasetError(f'{args.train}: a classifier needs at least 2 classes, got '
                               f'{classes}')
        crops, targets = box_crops(train_samples, classes, args.input_size, args.context,
                                   args.copies, rng)
        test_crops, test_targets = box_crops(test_samples, classes, args.input_size,
                                             args.context)
    except DatasetError as error:
        raise cli.CliError(error) from error
    counts = np.bincount(targets, minlength=len(classes))
    if not counts.all():
        raise cli.CliError(f'{args.train}: no box of class '
                           f'{classes[int(np.argmin(counts))]}; every class needs examples')
    inputs, test_inputs = to_tensor(crops), to_tensor(test_crops)
    labels = torch.from_numpy(targets)
    # Rare classes weigh more, so that the loss does not settle for the common class.
    weights = torch.tensor(counts.sum() / (len(classes) * counts), dtype=torch.float32)
    network = make_network(len(classes))
    optimizer = torch.optim.AdamW(network.parameters(), args.lr, weight_decay=1e-4)
    # Annealed to zero, the last epochs agree with each other, so the best one is not luck.
    batches = len(range(0, len(inputs) - 1, args.batch_size))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.lr,
                                                   total_steps=args.epochs * batches)
    history, best, best_state = [], -1.0, None
    started = time.monotonic()
    progress = tqdm(range(1, args.epochs + 1), desc='face-train-classifier', unit='epoch')
    for epoch in progress:
        network.train()
        order = torch.randperm(len(inputs))
        losses = []
        for start in range(0, len(order) - 1, args.batch_size):
            batch = order[start:start + args.batch_size]
            if len(batch) < 2:
                continue
            loss = nn.functional.cross_entropy(network(inputs[batch]), labels[batch],
                                               weight=weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
        loss = float(np.mean(losses))
        if not math.isfinite(loss):
            raise cli.CliError(f'the loss became {loss} at epoch {epoch}; try a smaller --lr')
        accuracy = balanced_accuracy(network, test_inputs, test_targets, len(classes))
        history.append({'epoch': epoch, 'loss': loss, 'balanced_accuracy': accuracy})
        progress.set_postfix(loss=f'{loss:.3f}', balanced=f'{accuracy:.3f}')
        if accuracy > best:
            best = accuracy
            best_state = {key: value.clone() for key, value in network.state_dict().items()}
    minutes = (time.monotonic() - started) / 60
    network.load_state_dict(best_state)
    best_epoch = max(history, key=lambda row: row['balanced_accuracy'])['epoch']
    section = {
        'file': 'classifier.xml', 'input_size': args.input_size, 'context': args.context,
        'labels': classes, **{key: CLASSIFIER_DEFAULTS[key] for key in
                              ('color_order', 'mean', 'scale')},
        'trained': f'face-train-classifier on {Path(args.train).name} ({len(targets)} crops, '
                   f'{args.epochs} epochs, {minutes:.1f} min); balanced accuracy {best:.3f} on '
                   f'{Path(args.test).name} (epoch {best_epoch})'}
    with files.atomic_output_dir(args.output, overwrite=args.overwrite,
                                 inputs=[args.train, args.test]) as staging:
        export(network, args.input_size, staging / 'classifier.xml')
        (staging / 'classifier.yaml').write_text(
            '# The `classifier:` section of a model card (docs/model-cards.md); `file` is '
            'relative to the card.\n' + yaml.safe_dump({'classifier': section}, sort_keys=False))
        write_log(history, staging)
    print(f'face-train-classifier: {len(classes)} classes ({", ".join(classes)}), '
          f'{len(targets)} training crops; best balanced accuracy {best:.3f} on '
          f'{len(test_targets)} test crops at epoch {best_epoch}; wrote classifier.onnx, '
          f'classifier.xml/.bin, classifier.yaml, log.csv, curves.png to {args.output}')
    return 0


def write_log(history, folder):
    """Write the CSV log and the loss / balanced accuracy curves (PNG)."""
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot

    text = io.StringIO()
    writer = csv.DictWriter(text, LOG_FIELDS, lineterminator='\n')
    writer.writeheader()
    writer.writerows(history)
    (folder / 'log.csv').write_text(text.getvalue())
    figure, (left, right) = pyplot.subplots(1, 2, figsize=(9, 3.5))
    epochs = [row['epoch'] for row in history]
    left.plot(epochs, [row['loss'] for row in history], marker='.')
    left.set_title('training loss')
    right.plot(epochs, [row['balanced_accuracy'] for row in history], marker='.')
    right.set_title('balanced accuracy on --test')
    for axes in (left, right):
        axes.set_xlabel('epoch')
        axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(folder / 'curves.png', dpi=100)
    pyplot.close(figure)


if __name__ == '__main__':
    sys.exit(main())
