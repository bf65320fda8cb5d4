// A4PS's public API: a living, self-constructing agent in one image file.
// Everything else (src/) is internal. See examples/simple/simple.cpp for a start.
#pragma once
#include "a4ps/build.h"
#include "a4ps/chat.h"
#include "a4ps/error.h"
#include "a4ps/events.h"
#include "a4ps/governance.h"
#include "a4ps/image.h"
#include "a4ps/learn.h"
#include "a4ps/memory.h"
#include "a4ps/models.h"
#include "a4ps/personas.h"
#include "a4ps/sandbox.h"
#include "a4ps/session.h"
#include "a4ps/text.h"
#include "a4ps/tools.h"
#include "a4ps/threads.h"
