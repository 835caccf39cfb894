package tokenizer

import "strings"

// chatFormat names a built-in prompt format (a subset of llama.cpp's
// llm_chat_template).
type chatFormat int

const (
	chatML chatFormat = iota
	chatLlama3
	chatLlama2    // [INST] without system-message support
	chatLlama2Sys // <<SYS>> system message
	chatLlama2SysBOS
	chatLlama2SysStrip
	chatPhi3
	chatGemma
)

// detectChatFormat recognises a template's family from marker strings, in
// the order llama.cpp's llm_chat_detect_template tests them. A bare name
// ("chatml", "llama3", ...) selects the format directly, as llama.cpp
// accepts names in place of templates.
func detectChatFormat(tmpl string) (chatFormat, bool) {
	switch tmpl {
	case "chatml":
		return chatML, true
	case "llama3":
		return chatLlama3, true
	case "llama2":
		return chatLlama2, true
	case "llama2-sys":
		return chatLlama2Sys, true
	case "llama2-sys-bos":
		return chatLlama2SysBOS, true
	case "llama2-sys-strip":
		return chatLlama2SysStrip, true
	case "phi3":
		return chatPhi3, true
	case "gemma":
		return chatGemma, true
	}
	has := func(s string) bool { return strings.Contains(tmpl, s) }
	switch {
	case has("<|im_start|>"):
		// llama.cpp tells phi-4 (<|im_sep|>) and SmolVLM apart here; both
		// are ChatML-like enough that we do not.
		return chatML, true
	case strings.HasPrefix(tmpl, "mistral") || has("[INST]"):
		switch {
		case has("content.strip()"):
			return chatLlama2SysStrip, true
		case has("bos_token + '[INST]"):
			return chatLlama2SysBOS, true
		case has("<<SYS>>"):
			return chatLlama2Sys, true
		}
		return chatLlama2, true
	case has("<|assistant|>") && has("<|end|>"):
		return chatPhi3, true
	case has("<start_of_turn>"):
		return chatGemma, true
	case has("<|start_header_id|>") && has("<|end_header_id|>"):
		return chatLlama3, true
	}
	return 0, false
}

// formatChat renders msgs in a built-in format, following llama.cpp's
// llm_chat_apply_template for that format.
func formatChat(f chatFormat, msgs []Message, addAssistant bool) string {
	var b strings.Builder
	switch f {
	case chatML:
		for _, m := range msgs {
			b.WriteString("<|im_start|>" + m.Role + "\n" + m.Content + "<|im_end|>\n")
		}
		if addAssistant {
			b.WriteString("<|im_start|>assistant\n")
		}
	case chatLlama3:
		for _, m := range msgs {
			b.WriteString("<|start_header_id|>" + m.Role + "<|end_header_id|>\n\n" + trimSpace(m.Content) + "<|eot_id|>")
		}
		if addAssistant {
			b.WriteString("<|start_header_id|>assistant<|end_header_id|>\n\n")
		}
	case chatPhi3:
		for _, m := range msgs {
			b.WriteString("<|" + m.Role + "|>\n" + m.Content + "<|end|>\n")
		}
		if addAssistant {
			b.WriteString("<|assistant|>\n")
		}
	case chatGemma:
		// Gemma has no system role: the system text opens the next user turn.
		system := ""
		for _, m := range msgs {
			role := m.Role
			if role == "system" {
				system += trimSpace(m.Content)
				continue
			}
			if role == "assistant" {
				role = "model"
			}
			b.WriteString("<start_of_turn>" + role + "\n")
			if system != "" && role != "model" {
				b.WriteString(system + "\n\n")
				system = ""
			}
			b.WriteString(trimSpace(m.Content) + "<end_of_turn>\n")
		}
		if addAssistant {
			b.WriteString("<start_of_turn>model\n")
		}
	default: // the Llama 2 [INST] family; BOS of the first turn comes from the tokenizer
		sys := f != chatLlama2
		strip := f == chatLlama2SysStrip
		insideTurn := true
		b.WriteString("[INST] ")
		for _, m := range msgs {
			content := m.Content
			if strip {
				content = trimSpace(content)
			}
			if !insideTurn {
				insideTurn = true
				if f == chatLlama2SysBOS {
					b.WriteString("<s>")
				}
				b.WriteString("[INST] ")
			}
			switch m.Role {
			case "system":
				if sys {
					b.WriteString("<<SYS>>\n" + content + "\n<</SYS>>\n\n")
				} else {
					b.WriteString(content + "\n")
				}
			case "user":
				b.WriteString(content + " [/INST]")
			default:
				b.WriteString(content + "</s>")
				insideTurn = false
			}
		}
	}
	return b.String()
}

// trimSpace is llama.cpp's trim: ASCII whitespace at both ends.
func trimSpace(s string) string { return strings.Trim(s, asciiSpace) }
