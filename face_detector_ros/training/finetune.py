"""
face-finetune: fine-tune the shipped RetinaFace on a face dataset; checkpoints, resumes, exports.

Every labelled box is a face here (the classes of the set are merged): the network keeps its
two-class head, so the result runs with the `retinaface` decoder and with a crop classifier
behind it (face-train-classifier). The five landmarks have no labels in most sets; they are
kept close to the starting network's (distillation on the matched priors), so that keypoints
stay usable. At the end the best weights (by AP on --test) are written as ONNX and a model card.
"""

import argparse
import copy
import math
from pathlib import Path
import sys
import time

from face_detector_ros import files
from face_detector_ros.datasets.annotations import DatasetError
from face_detector_ros.detection.decoders import retinaface_priors, RetinaFaceDecoder
from face_detector_ros.detection.letterbox import Letterbox
from face_detector_ros.detection.model_cards import models_dir
from face_detector_ros.evaluation import detection_metrics as metrics
from face_detector_ros.tools import cli
from face_detector_ros.training.augment import photometric
from face_detector_ros.training.data import read_image, read_samples
from face_detector_ros.training.loss import multibox_loss
from face_detector_ros.training.matching import match
from face_detector_ros.training.retinaface import (
    Deployed, export_onnx, load_onnx, OnnxError, PIXEL_MEAN, RetinaFace)
from face_detector_ros.training.train import (
    model_file, one_line, reading_checkpoint, resolve_device, warmup_cosine, write_checkpoint,
    write_log)
import numpy as np
import torch
from torch.nn import functional
from torch.utils.data import DataLoader, Dataset, RandomSampler
from tqdm import tqdm
import yaml

LAST = 'last.pt'
BEST = 'best.pt'
LOG_FIELDS = ('iteration', 'loss', 'box_loss', 'class_loss', 'landmark_loss', 'lr', 'ap')
BASE_CARD = 'retinaface_640x480.yaml'
# Pytorch_Retinaface matches priors from IoU 0.35 (small faces have few priors above 0.5).
MATCH_IOU = 0.35
# Zoom range of the augmentation, relative to the letterbox: faces up to 1.6x smaller or larger.
ZOOM = (1 / 1.6, 1.6)
# Faces narrower than this in the model input are not learned (nor counted against it).
MIN_FACE = 4.0
EVAL_THRESHOLD = 0.02


def parse_args(argv):
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog='face-finetune', description=__doc__.split('\n')[1],
        epilog='Run the same command again to resume from OUTPUT/last.pt.')
    parser.add_argument('train', help='training set: VOC list, darknet list or YOLO folder')
    parser.add_argument('output', help='folder for checkpoints, log, plots, ONNX and card')
    parser.add_argument('--test', required=True, help='validation set (same forms): picks the '
                        'best weights by face AP@0.5')
    parser.add_argument('--init', default='retinaface_mnet025.onnx', metavar='ONNX',
                        help='starting network: a path or a file in the shipped models folder '
                        '(default retinaface_mnet025.onnx)')
    parser.add_argument('--input-size', default='640x480', metavar='WxH',
                        help='training and export input size (default 640x480)')
    parser.add_argument('--iterations', type=int, default=3000)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--lr', type=float, default=2e-4, help='peak AdamW learning rate')
    parser.add_argument('--warmup', type=int, default=100, help='linear warm-up iterations')
    parser.add_argument('--landmark-weight', type=float, default=1.0,
                        help='weight of the landmark distillation loss (0 drops it)')
    parser.add_argument('--eval-every', type=int, default=250)
    parser.add_argument('--checkpoint-every', type=int, default=50)
    parser.add_argument('--workers', type=int, default=2, help='data loader processes')
    parser.add_argument('--threads', type=int, default=0,
                        help='torch threads (default: torch chooses)')
    parser.add_argument('--device', default='auto')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    try:
        width, height = (int(side) for side in args.input_size.lower().split('x'))
    except ValueError:
        parser.error(f'--input-size {args.input_size!r} is not WxH (e.g. 640x480)')
    if not (32 <= width <= 2048 and 32 <= height <= 2048):
        parser.error(f'--input-size {args.input_size}: sides must be in [32, 2048]')
    args.size = (width, height)
    for name in ('iterations', 'batch_size', 'eval_every', 'checkpoint_every'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be positive')
    if not (0 < args.lr <= 1) or not args.landmark_weight >= 0 or args.warmup < 0:
        parser.error(f'--lr {args.lr} must be in (0, 1], --landmark-weight '
                     f'{args.landmark_weight} and --warmup {args.warmup} not negative')
    return args


def normalised_priors(width, height):
    """Return the card's RetinaFace priors (cx, cy, w, h) as fractions of the input size."""
    card = base_card(width, height)
    priors = retinaface_priors(width, height, tuple(card['strides']),
                               tuple(tuple(sizes) for sizes in card['min_sizes']))
    return torch.from_numpy(priors / np.float32([width, height, width, height]))


def to_tensor(image):
    """Return the network input (3, H, W) of a BGR uint8 image: minus the channel means."""
    chw = (image.astype(np.float32) - np.float32(PIXEL_MEAN)).transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(chw))


def zoomed(image, boxes, size, rng):
    """
    Return (canvas, boxes): the image at a random zoom of its letterbox scale, placed at random.

    A larger image is cut to the canvas, a smaller one pasted on black; boxes whose centre leaves
    the canvas are dropped, the others clipped to it.
    """
    width, height = size
    scale = min(width / image.shape[1], height / image.shape[0])
    scale *= math.exp(rng.uniform(*np.log(ZOOM)))
    resized = Letterbox(image.shape[1], image.shape[0], round(image.shape[1] * scale),
                        round(image.shape[0] * scale)).apply(image)[0]
    scale = resized.shape[1] / image.shape[1]
    dx = int(rng.integers(min(0, width - resized.shape[1]), max(0, width - resized.shape[1]) + 1))
    dy = int(rng.integers(min(0, height - resized.shape[0]),
                          max(0, height - resized.shape[0]) + 1))
    canvas = np.zeros((height, width, 3), np.uint8)
    x0, y0 = max(dx, 0), max(dy, 0)
    x1, y1 = min(dx + resized.shape[1], width), min(dy + resized.shape[0], height)
    canvas[y0:y1, x0:x1] = resized[y0 - dy:y1 - dy, x0 - dx:x1 - dx]
    boxes = boxes * scale + [dx, dy, dx, dy]
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    inside = np.all((centres >= 0) & (centres < [width, height]), axis=1)
    boxes = np.clip(boxes[inside], 0, [width, height, width, height])
    return canvas, boxes


class FaceSet(Dataset):
    """Zoomed, mirrored, colour-jittered images with their matched targets, all boxes faces."""

    def __init__(self, samples, size):
        """Keep the samples; `size` is the (width, height) input."""
        self.samples = samples
        self.size = size
        self.priors = normalised_priors(*size)

    def __len__(self):
        """Return the number of images."""
        return len(self.samples)

    def __getitem__(self, index):
        """Return (image tensor, target offsets (P, 4), target labels (P,))."""
        sample = self.samples[index]
        rng = np.random.default_rng(int(torch.randint(2**62, ())))
        image, boxes = zoomed(read_image(sample.image_path), sample.boxes, self.size, rng)
        if rng.random() < 0.5:
            image = np.ascontiguousarray(image[:, ::-1])
            boxes = np.stack([self.size[0] - boxes[:, 2], boxes[:, 1],
                              self.size[0] - boxes[:, 0], boxes[:, 3]], axis=1)
        image = photometric(image, rng)
        boxes = boxes[(boxes[:, 2] - boxes[:, 0] >= MIN_FACE)
                      & (boxes[:, 3] - boxes[:, 1] >= MIN_FACE)]
        scale = np.float32([*self.size, *self.size])
        offsets, labels = match(torch.from_numpy((boxes / scale).astype(np.float32)),
                                torch.ones(len(boxes), dtype=torch.long), self.priors,
                                MATCH_IOU)
        return to_tensor(image), offsets, labels


def base_card(width, height):
    """Return the shipped RetinaFace card with this input size (what the export ships with)."""
    card = yaml.safe_load((models_dir() / BASE_CARD).read_text(encoding='utf-8'))
    card['input_size'] = [width, height]
    return card


@torch.no_grad()
def evaluate_faces(model, samples, size):
    """Return the face AP@0.5 (all boxes one class) of the model on `samples`, as deployed."""
    was_training = model.training
    model.eval()
    decoder = RetinaFaceDecoder(base_card(*size))
    deployed = Deployed(model)
    truth, predictions = {}, {}
    for index, sample in enumerate(samples):
        image = read_image(sample.image_path)
        box = Letterbox(image.shape[1], image.shape[0], *size)
        outputs = [tensor.numpy() for tensor in deployed(to_tensor(box.apply(image)[0])[None])]
        found = box.to_source(decoder(outputs, EVAL_THRESHOLD, 0.4, 200))
        truth[index] = metrics.ImageTruth(sample.boxes, ['face'] * len(sample.boxes),
                                          sample.difficult)
        predictions[index] = metrics.ImagePredictions(found.boxes, found.scores,
                                                      ['face'] * len(found.scores))
    model.train(was_training)
    return metrics.evaluate(truth, predictions, max_detections=200, labels=['face']).ap or 0.0


class FineTuner:
    """The network, its frozen starting copy (landmark teacher), optimiser and log."""

    def __init__(self, args, init_path, device):
        """Start from the ONNX file `init_path`."""
        self.args = args
        self.device = device
        self.model = load_onnx(RetinaFace(), init_path).to(device)
        self.teacher = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=args.lr,
                                           weight_decay=1e-4)
        self.iteration = 0
        self.history = []
        self.best_ap = -1.0
        self.seconds = 0.0  # of training, over every resumed run

    def learning_rate(self):
        """Return the learning rate of the next iteration."""
        return warmup_cosine(self.iteration + 1, self.args.lr, self.args.warmup,
                             self.args.iterations)

    def step(self, images, offsets, labels):
        """Run one optimisation step; return (box, class, landmark) losses as floats."""
        for group in self.optimizer.param_groups:
            group['lr'] = self.learning_rate()
        images, offsets, labels = (t.to(self.device) for t in (images, offsets, labels))
        loc, logits, landmarks = self.model(images)
        box_loss, class_loss = multibox_loss(loc, logits, offsets, labels)
        positive = labels > 0
        landmark_loss = torch.zeros(())
        if self.args.landmark_weight and positive.any():
            with torch.no_grad():
                wanted = self.teacher(images)[2][positive]
            landmark_loss = functional.smooth_l1_loss(landmarks[positive], wanted,
                                                      reduction='sum') / positive.sum()
        loss = box_loss + class_loss + self.args.landmark_weight * landmark_loss
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.iteration += 1
        return box_loss.item(), class_loss.item(), landmark_loss.item()

    def state(self):
        """Return everything a resumed run needs."""
        return {'iteration': self.iteration, 'model': self.model.state_dict(),
                'optimizer': self.optimizer.state_dict(), 'history': self.history,
                'best_ap': self.best_ap, 'seconds': self.seconds, 'rng': torch.get_rng_state(),
                'args': {'size': list(self.args.size), 'init': self.args.init}}

    def restore(self, state):
        """Continue from a state written by `state`."""
        self.model.load_state_dict(state['model'])
        self.optimizer.load_state_dict(state['optimizer'])
        self.iteration = state['iteration']
        self.history = state['history']
        self.best_ap = state['best_ap']
        self.seconds = state['seconds']
        torch.set_rng_state(state['rng'].cpu())

    def save(self, path, state=None):
        """Write the given state, else everything a resumed run needs, to `path`."""
        write_checkpoint(path, self.state() if state is None else state)

    def write_log(self, output):
        """Rewrite the CSV log and the loss and AP plots."""
        write_log(self.history, LOG_FIELDS, output,
                  {'loss': 'training loss', 'ap': 'face AP@0.5 on --test'})


def export(model, output, size, init, best_ap, iteration, minutes):
    """Write OUTPUT/retinaface.onnx and OUTPUT/retinaface.yaml (a card for that file)."""
    width, height = size
    card = base_card(width, height)
    card['file'] = 'retinaface.onnx'
    card['description'] = (f'RetinaFace-MobileNet0.25 fine-tuned by face-finetune from '
                           f'{Path(init).name} at {width}x{height}')
    card['measured'] = (f'face AP@0.5 {best_ap:.3f} on the --test set (iteration {iteration}, '
                        f'{minutes:.0f} min of fine-tuning)')
    staging = output / '.retinaface.onnx.partial'
    try:
        export_onnx(model.cpu().eval(), staging, width, height)
        staging.replace(output / 'retinaface.onnx')
    finally:
        staging.unlink(missing_ok=True)
    with files.atomic_output_file(output / 'retinaface.yaml') as stream:
        stream.write('# Written by face-finetune; `file` is relative to this card.\n')
        stream.write(yaml.safe_dump(card, sort_keys=False))


@cli.console_main
def main(argv=None):
    """Fine-tune, checkpointing; resume from OUTPUT/last.pt; export the best weights."""
    args = parse_args(argv)
    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    output = Path(args.output)
    try:
        train_samples, test_samples = read_samples(args.train), read_samples(args.test)
    except DatasetError as error:
        raise cli.CliError(error) from error
    start = model_file(args.init, '--init')
    with one_line(OnnxError):
        tuner = FineTuner(args, start, device)
    last = output / LAST
    if last.is_file():
        with reading_checkpoint(last):
            state = torch.load(last, map_location=device, weights_only=False)
            if state['args']['size'] != list(args.size):
                raise cli.CliError(f'{last} was trained at {state["args"]["size"]}; use '
                                   'another output folder or the same --input-size')
            tuner.restore(state)
        print(f'face-finetune: resuming {last} at iteration {tuner.iteration}', file=sys.stderr)
    elif output.is_dir() and any(output.iterdir()):
        raise cli.CliError(f'{output} is not empty and holds no {LAST} to resume from; '
                           'choose a new output folder')
    else:
        torch.manual_seed(args.seed)
        output.mkdir(parents=True, exist_ok=True)
        row = dict.fromkeys(LOG_FIELDS, '')
        row.update(iteration=0, ap=evaluate_faces(tuner.model, test_samples, args.size))
        tuner.history.append(row)
        print(f'face-finetune: face AP@0.5 {tuner.history[0]["ap"]:.4f} on {args.test} '
              f'before fine-tuning', file=sys.stderr)
    remaining = args.iterations - tuner.iteration
    started = time.monotonic()
    if remaining > 0:
        loader = DataLoader(FaceSet(train_samples, args.size), batch_size=args.batch_size,
                            drop_last=True, num_workers=args.workers,
                            sampler=RandomSampler(range(len(train_samples)), replacement=True,
                                                  num_samples=remaining * args.batch_size))
        window = []
        progress = tqdm(total=args.iterations, initial=tuner.iteration, desc='face-finetune',
                        unit='it', dynamic_ncols=True)
        try:
            for images, offsets, labels in loader:
                window.append(tuner.step(images, offsets, labels))
                progress.update()
                done = tuner.iteration == args.iterations
                if tuner.iteration % args.checkpoint_every and not done:
                    continue
                now = time.monotonic()
                tuner.seconds += now - started
                started = now
                box, klass, landmark = (float(np.mean(values)) for values in zip(*window))
                window = []
                row = {'iteration': tuner.iteration, 'loss': box + klass + landmark,
                       'box_loss': box, 'class_loss': klass, 'landmark_loss': landmark,
                       'lr': tuner.learning_rate(), 'ap': ''}
                if not math.isfinite(row['loss']):
                    raise cli.CliError(f'the loss became {row["loss"]} at iteration '
                                       f'{tuner.iteration}; try a smaller --lr')
                if tuner.iteration % args.eval_every == 0 or done:
                    row['ap'] = evaluate_faces(tuner.model, test_samples, args.size)
                    if row['ap'] > tuner.best_ap:
                        tuner.best_ap = row['ap']
                        tuner.save(output / BEST, {'model': tuner.model.state_dict(),
                                                   'ap': row['ap'],
                                                   'iteration': tuner.iteration})
                tuner.history.append(row)
                progress.set_postfix(loss=f'{row["loss"]:.3f}',
                                     ap=f'{tuner.best_ap:.3f}')
                tuner.save(last)
                tuner.write_log(output)
        except KeyboardInterrupt:
            progress.close()
            raise cli.CliError(f'interrupted at iteration {tuner.iteration}; the last '
                               f'checkpoint is {last}: run the same command to resume') from None
        progress.close()
    with reading_checkpoint(output / BEST):
        best = torch.load(output / BEST, map_location='cpu', weights_only=False)
        tuner.model.load_state_dict(best['model'])
    export(tuner.model, output, args.size, start, best['ap'], best['iteration'],
           tuner.seconds / 60)
    print(f'face-finetune: {tuner.iteration} iterations; face AP@0.5 {tuner.history[0]["ap"]:.4f}'
          f' before, {best["ap"]:.4f} best (iteration {best["iteration"]}); wrote '
          f'{output / "retinaface.onnx"} and its card {output / "retinaface.yaml"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
