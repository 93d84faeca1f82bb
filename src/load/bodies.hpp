#pragma once
// The bodies `greenbatch load` sends, one per image of a folder (its *.jpg and *.jpeg files,
// sorted by name, as run takes them): request i sends image i mod count.
#include <string>
#include <vector>

#include "load/client.hpp"

namespace greenbatch::load {

// The names a request uses: the model's input, and the one output asked for, as binary data (a
// Triton model's are in its config.pbtxt, e.g. input__0 and output__0 for a TorchScript model;
// greenbatch serve takes any input name and gives logits or top1). Letters, digits, '_', '.',
// '-' and ':' only (checked by check_tensor_name).
struct TensorNames {
  std::string input = "input";
  std::string output = "top1";
};
// UserError naming `flag` unless `name` is 1 to 128 of the characters above.
void check_tensor_name(const std::string& name, const std::string& flag);

// The JPEG files of `dir`, sorted by name; UserError when there is none or the folder is missing.
std::vector<std::string> image_files(const std::string& dir);

// Each image preprocessed as the study does (Resize(256), CenterCrop(224), ImageNet
// normalisation: src/image) into one FP32 [1,3,224,224] item in Triton's binary tensor data:
// the JSON header {"inputs":[{"name":"input","datatype":"FP32","shape":[1,3,224,224],
// "parameters":{"binary_data_size":602112}}],"outputs":[{"name":"top1"}]} then the
// little-endian floats, with Inference-Header-Content-Length. A JPEG that cannot be decoded
// throws UserError naming it.
std::vector<Body> tensor_bodies(const std::vector<std::string>& files, const TensorNames& names = {});

// Each file as it is, an image/jpeg body (the server decodes it; it answers logits).
std::vector<Body> jpeg_bodies(const std::vector<std::string>& files);

// For a null model (greenbatch serve --model synthetic takes FP32 of any shape): one small JSON
// request, {"inputs":[{"name":"input","datatype":"FP32","shape":[1,4],"data":[...]}],
// "outputs":[{"name":"top1"}]}: the server's path without the cost of an image.
std::vector<Body> null_model_bodies(const TensorNames& names = {});

}  // namespace greenbatch::load
