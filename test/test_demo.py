"""make demo's bookkeeping: tracks are matched to the images the watcher saw, by stamp."""

from builtin_interfaces.msg import Time
from face_detector_ros import demo
from vision_msgs.msg import BoundingBox2D, Detection2D, Detection2DArray


def tracks_message(sec, track_id):
    msg = Detection2DArray()
    msg.header.stamp = Time(sec=sec, nanosec=5)
    box = BoundingBox2D(size_x=10.0, size_y=20.0)
    box.center.position.x, box.center.position.y = 50.0, 60.0
    msg.detections = [Detection2D(header=msg.header, bbox=box, id=str(track_id))]
    return msg


def test_tracks_of_an_image_the_watcher_missed_are_counted_not_a_key_error():
    image_stamps = [(2, 5), (3, 5)]  # the camera_info of the image at 1 s was missed
    tracks = [tracks_message(1, 7), tracks_message(2, 7), tracks_message(3, 7)]
    rows = demo.tracks_to_mot_rows(tracks, image_stamps)
    assert rows[:, :2].tolist() == [[1, 7], [2, 7]]
    assert rows[0, 2:6].tolist() == [45.0, 50.0, 10.0, 20.0]
    assert demo.unseen_tracks(tracks, image_stamps) == 1
    assert demo.unseen_tracks(tracks[1:], image_stamps) == 0
