// What the CLI and the app both write: number formatting and the restarts grid. Any thread.
#pragma once

#include "inference/engine.h"
#include "render/image.h"

#include <string>
#include <vector>

namespace preimage::app {

std::string fmt(const char* format, double value);  // printf-style, one number

// Original, every restart (numbered from 0 as in the JSON, labelled with its feature error, the best one
// framed and marked "(best)") and, with several, the variance map.
render::Image restartsGrid(const InversionResult& result);

// Rows = latent chunks, columns = slider values (in sigma): one decoded image per cell, each row titled
// (chunkTitles), column subtitles the value.
render::Image traversalGrid(const std::vector<std::vector<ImageF>>& rows, const std::vector<float>& values,
                            const std::vector<std::string>& rowTitles);
// "chunk k: <factor>" where the factor table names one (`factors`), else "chunk k", "(class)" on the class chunk
// when no factor names are known.
std::vector<std::string> chunkTitles(int chunks, int classChunk, const std::vector<std::string>& factors);

// The a : b :: c : d figure: four cells (titled "a".."d", subtitled e.g. with the predicted class; d framed)
// with the ratio signs between them.
render::Image analogyFigure(const std::vector<ImageF>& abcd, const std::vector<std::string>& subtitles);

// A line plot of a value per layer (depth order) with a band of one standard deviation: the per-layer table
// as a picture. x: layers (a label every few when they are many); y from 0; title on top.
render::Image depthCurve(const std::vector<std::string>& layers, const std::vector<double>& mean,
                         const std::vector<double>& sd, const std::string& title, const std::string& yLabel);

// Nearest-neighbour upscale to about 112 px (scale 0) or by `scale`.
render::Image upscale(const ImageF& image, int scale);
// Throws Error unless `path` ends in .png (naming the option).
void checkPng(const std::string& path, const std::string& option);
// Checks, before any work, every output option the command was given: the extension (when one is named),
// a folder that exists and is writable, not a folder itself, and not one of the inputs (--image, --model,
// --a/--b/--c), also through links; and --scale's range. Throws Error naming the option.
struct OutputOption {
    const char* option;     // without "--"
    const char* extension;  // ".png", ".json"... or "" for any
};
class Args;
void checkOutputs(const Args& args, std::initializer_list<OutputOption> outputs);

}  // namespace preimage::app
